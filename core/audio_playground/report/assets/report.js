/* audio-playground stem report: a synchronized multi-stem player. Standard DOM and media APIs only.
   Every text from the data goes into the page through textContent or a property, never as HTML. */
(function () {
  "use strict";

  var DEADBAND = 0.012, GAIN = 1.5, NUDGE = 0.08, FAR = 0.5, SMOOTHING = 0.05, SETTLE_MS = 2000;
  var data = JSON.parse(document.getElementById("ap-data").textContent);
  var players = [];
  var active = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clock(seconds) {
    if (!isFinite(seconds) || seconds < 0) seconds = 0;
    var minutes = Math.floor(seconds / 60);
    var rest = (seconds - minutes * 60).toFixed(1);
    return minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function number(value, digits) {
    return typeof value === "number" && isFinite(value) ? value.toFixed(digits) : "n/a";
  }

  function bytesOf(base64) {
    var raw = atob(base64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function mediaUrl(src) {
    // embedded audio: a blob: URL is lighter for the media stack than a long data: URL
    var match = /^data:([^;,]+);base64,/.exec(src);
    if (!match) return src;
    return URL.createObjectURL(new Blob([bytesOf(src.slice(match[0].length))], { type: match[1] }));
  }

  function labelled(text, control) {
    var label = el("label", "control");
    label.appendChild(el("span", "label-text", text));
    label.appendChild(control);
    return label;
  }

  function button(text, name) {
    var b = el("button", null, text);
    b.type = "button";
    if (name) b.setAttribute("aria-label", name);
    return b;
  }

  function slider(min, max, step, value, name) {
    var input = el("input");
    input.type = "range";
    input.min = String(min);
    input.max = String(max);
    input.step = String(step);
    input.value = String(value);
    input.setAttribute("aria-label", name);
    return input;
  }

  function drawPeaks(canvas, peaks, fraction) {
    var ctx = canvas.getContext("2d");
    var w = canvas.width, h = canvas.height, mid = h / 2;
    var width = Math.max(1, Math.round(w * Math.min(1, fraction)));
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = getComputedStyle(canvas).color || "#222";
    for (var x = 0; x < width; x++) {
      var a = Math.floor((x * peaks.length) / width);
      var b = Math.max(a + 1, Math.floor(((x + 1) * peaks.length) / width));
      var top = 0;
      for (var i = a; i < b && i < peaks.length; i++) if (peaks[i] > top) top = peaks[i];
      var half = Math.max(0.5, (top / 255) * mid);
      ctx.fillRect(x, mid - half, 1, half * 2);
    }
  }

  function definitionList(entries) {
    var dl = el("dl", "facts");
    entries.forEach(function (pair) {
      dl.appendChild(el("dt", null, pair[0]));
      dl.appendChild(el("dd", null, pair[1]));
    });
    return dl;
  }

  function Player(track, index) {
    var self = this;
    this.track = track;
    this.index = index;
    this.duration = track.duration || 0;
    this.playing = false;
    this.mixMode = false;
    this.rows = [];
    this.mixRow = null;
    this.frame = 0;
    this.token = 0;
    this.moved = 0;

    var section = el("section", "track" + (track.problems.length ? " marked" : ""));
    section.id = "track-" + index;
    section.setAttribute("aria-labelledby", "track-" + index + "-name");
    var heading = el("h2", null, track.name);
    heading.id = "track-" + index + "-name";
    section.appendChild(heading);
    this.section = section;

    if (track.problems.length) {
      var box = el("div", "problems");
      box.setAttribute("role", "note");
      box.appendChild(el("p", "problems-title", "Problems with this track (" + track.problems.length + "):"));
      var list = el("ul");
      track.problems.forEach(function (p) {
        list.appendChild(el("li", null, p));
      });
      box.appendChild(list);
      section.appendChild(box);
    }

    // transport: one for all stems
    var transport = el("div", "transport");
    transport.setAttribute("role", "group");
    transport.setAttribute("aria-label", "Transport of " + track.name);
    this.playButton = button("Play", "Play " + track.name);
    this.playButton.className = "play";
    this.playButton.addEventListener("click", function () {
      self.toggle();
    });
    transport.appendChild(this.playButton);
    this.time = el("span", "time", clock(0) + " / " + clock(this.duration));
    this.time.setAttribute("role", "timer");
    this.time.setAttribute("aria-label", "Position of " + track.name + " and its length");
    transport.appendChild(this.time);
    this.seekBar = slider(0, this.duration || 0, 0.01, 0, "Position of " + track.name + " in seconds");
    this.seekBar.className = "seek";
    this.seekBar.addEventListener("input", function () {
      self.seek(parseFloat(self.seekBar.value));
    });
    transport.appendChild(labelled("Position", this.seekBar));

    var loop = el("div", "loop");
    loop.setAttribute("role", "group");
    loop.setAttribute("aria-label", "Loop region of " + track.name);
    this.loopOn = el("input");
    this.loopOn.type = "checkbox";
    this.loopStart = el("input");
    this.loopEnd = el("input");
    [this.loopStart, this.loopEnd].forEach(function (input, i) {
      input.type = "number";
      input.min = "0";
      input.max = String(self.duration);
      input.step = "0.1";
      input.value = String(i === 0 ? 0 : Math.round(self.duration * 10) / 10);
      input.addEventListener("change", function () {
        self.drawLoop();
      });
    });
    this.loopOn.addEventListener("change", function () {
      self.drawLoop();
    });
    loop.appendChild(labelled("Loop", this.loopOn));
    loop.appendChild(labelled("from (s)", this.loopStart));
    loop.appendChild(labelled("to (s)", this.loopEnd));
    var setStart = button("Start here", "Set the loop start to the playhead");
    var setEnd = button("End here", "Set the loop end to the playhead");
    setStart.addEventListener("click", function () {
      self.loopStart.value = self.position().toFixed(1);
      self.drawLoop();
    });
    setEnd.addEventListener("click", function () {
      self.loopEnd.value = self.position().toFixed(1);
      self.drawLoop();
    });
    loop.appendChild(setStart);
    loop.appendChild(setEnd);
    transport.appendChild(loop);

    if (track.mix && !track.mix.error) {
      this.abButton = button("Listen to the original mix", "Listen to the original mix instead of the stems");
      this.abButton.className = "ab";
      this.abButton.setAttribute("aria-pressed", "false");
      this.abButton.addEventListener("click", function () {
        self.setMixMode(!self.mixMode);
      });
      transport.appendChild(this.abButton);
    }
    this.status = el("p", "status", "");
    this.status.setAttribute("aria-live", "polite");
    transport.appendChild(this.status);
    section.appendChild(transport);

    var table = el("div", "stems");
    table.setAttribute("role", "list");
    table.setAttribute("aria-label", "Stems of " + track.name);
    track.stems.forEach(function (stem, i) {
      table.appendChild(self.row(stem, i, false));
    });
    if (track.mix) table.appendChild(self.row(track.mix, -1, true));
    section.appendChild(table);

    this.master = this.rows
      .filter(function (r) {
        return r.audio;
      })
      .sort(function (a, b) {
        return (b.info.duration || 0) - (a.info.duration || 0);
      })[0];
    this.audios = this.rows
      .concat(this.mixRow ? [this.mixRow] : [])
      .filter(function (r) {
        return r.audio;
      })
      .map(function (r) {
        return r.audio;
      });

    section.appendChild(this.checksTable(track.checks));
    if (track.metrics) section.appendChild(this.metricsTable(track.metrics));
    section.appendChild(this.settings(track.settings));

    section.addEventListener("focusin", function () {
      active = self;
    });
    section.addEventListener("pointerdown", function () {
      active = self;
    });
    this.apply();
  }

  Player.prototype.row = function (stem, i, isMix) {
    var self = this;
    var row = { info: stem, solo: false, mute: false, volume: 1, audio: null, isMix: isMix };
    var item = el("div", "stem" + (stem.error ? " broken" : "") + (isMix ? " mix" : ""));
    item.setAttribute("role", "listitem");
    var head = el("div", "stem-head");
    var title = el("h3", null, isMix ? "Original mix" : (i < 9 ? i + 1 + ". " : "") + stem.name);
    head.appendChild(title);
    head.appendChild(el("span", "file", stem.file));
    item.appendChild(head);
    if (stem.error) {
      item.appendChild(el("p", "error", "Cannot read this file: " + stem.error));
      if (isMix) this.mixRow = row;
      else this.rows.push(row);
      return item;
    }
    var controls = el("div", "stem-controls");
    controls.setAttribute("role", "group");
    controls.setAttribute("aria-label", (isMix ? "Original mix" : stem.name) + " controls");
    if (!isMix) {
      row.soloButton = button("Solo", "Solo " + stem.name);
      row.soloButton.className = "solo";
      row.soloButton.setAttribute("aria-pressed", "false");
      row.soloButton.addEventListener("click", function () {
        row.solo = !row.solo;
        self.apply();
      });
      row.muteButton = button("Mute", "Mute " + stem.name);
      row.muteButton.className = "mute";
      row.muteButton.setAttribute("aria-pressed", "false");
      row.muteButton.addEventListener("click", function () {
        row.mute = !row.mute;
        self.apply();
      });
      controls.appendChild(row.soloButton);
      controls.appendChild(row.muteButton);
    }
    var volume = slider(0, 1, 0.01, 1, "Volume of " + (isMix ? "the original mix" : stem.name));
    volume.addEventListener("input", function () {
      row.volume = parseFloat(volume.value);
      self.apply();
    });
    controls.appendChild(labelled("Volume", volume));
    row.state = el("span", "state", "");
    controls.appendChild(row.state);
    item.appendChild(controls);

    var visuals = el("div", "visuals");
    var wave = el("div", "wave");
    var canvas = el("canvas");
    canvas.width = 1000;
    canvas.height = 64;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "Waveform of " + (isMix ? "the original mix" : stem.name) + "; click to seek");
    wave.appendChild(canvas);
    row.loopBox = el("div", "loop-region");
    row.loopBox.hidden = true;
    wave.appendChild(row.loopBox);
    row.playhead = el("div", "playhead");
    wave.appendChild(row.playhead);
    canvas.addEventListener("click", function (event) {
      var box = canvas.getBoundingClientRect();
      self.seek(((event.clientX - box.left) / box.width) * self.duration);
    });
    visuals.appendChild(wave);
    var image = el("img", "spectrogram");
    image.src = stem.spectrogram;
    image.alt = "Spectrogram of " + (isMix ? "the original mix" : stem.name) + " (30 Hz to " + stem.rate / 2 + " Hz, log scale)";
    visuals.appendChild(image);
    item.appendChild(visuals);
    item.appendChild(
      definitionList([
        ["Rate", stem.rate + " Hz"],
        ["Channels", String(stem.channels)],
        ["Length", clock(stem.duration)],
        ["Peak", stem.peak_db === null ? "silent" : number(stem.peak_db, 1) + " dBFS"],
        ["RMS", stem.rms_db === null ? "silent" : number(stem.rms_db, 1) + " dBFS"],
      ])
    );

    var audio = el("audio");
    audio.preload = "auto";
    audio.src = mediaUrl(stem.src);
    audio.setAttribute("aria-label", isMix ? "Original mix" : stem.name);
    audio.addEventListener("error", function () {
      self.status.textContent = "This browser cannot play " + stem.file + ".";
    });
    audio.addEventListener("ended", function () {
      if (self.master && audio === self.master.audio) self.pause();
    });
    item.appendChild(audio);
    row.audio = audio;
    row.canvas = canvas;
    requestAnimationFrame(function () {
      drawPeaks(canvas, bytesOf(stem.peaks), self.duration ? stem.duration / self.duration : 1);
    });
    if (isMix) this.mixRow = row;
    else this.rows.push(row);
    return item;
  };

  Player.prototype.checksTable = function (checks) {
    var failed = checks.filter(function (c) {
      return !c.ok;
    }).length;
    var wrap = el("details", "checks");
    wrap.open = failed > 0;
    wrap.appendChild(
      el("summary", null, "Reference-free checks: " + (checks.length - failed) + " passed, " + failed + " failed")
    );
    var table = el("table");
    table.appendChild(el("caption", null, "Reference-free checks"));
    var head = el("tr");
    ["Stem", "Check", "Result", "Value", "Detail"].forEach(function (h) {
      var th = el("th", null, h);
      th.scope = "col";
      head.appendChild(th);
    });
    table.appendChild(head);
    if (!checks.length) {
      var none = el("tr");
      var cell = el("td", null, "No checks were run.");
      cell.colSpan = 5;
      none.appendChild(cell);
      table.appendChild(none);
    }
    checks.forEach(function (check) {
      var tr = el("tr", check.ok ? "ok" : "fail");
      tr.appendChild(el("td", null, check.stem === null ? "(track)" : check.stem));
      tr.appendChild(el("td", null, check.name));
      tr.appendChild(el("td", "result", check.ok ? "pass" : "FAIL"));
      tr.appendChild(el("td", "num", check.value === null ? "" : number(check.value, 2)));
      tr.appendChild(el("td", null, check.message));
      table.appendChild(tr);
    });
    wrap.appendChild(table);
    return wrap;
  };

  function metricsTable(caption, metrics) {
    var names = ["sdr", "sir", "isr", "sar", "global_sdr", "si_sdr"];
    var titles = ["SDR", "SIR", "ISR", "SAR", "global SDR", "SI-SDR"];
    var table = el("table", "metrics");
    table.appendChild(el("caption", null, caption));
    var head = el("tr");
    ["Stem"].concat(titles).forEach(function (h) {
      var th = el("th", null, h);
      th.scope = "col";
      head.appendChild(th);
    });
    table.appendChild(head);
    Object.keys(metrics).forEach(function (stem) {
      var tr = el("tr");
      tr.appendChild(el("td", null, stem));
      names.forEach(function (n) {
        tr.appendChild(el("td", "num", number((metrics[stem] || {})[n], 2)));
      });
      table.appendChild(tr);
    });
    return table;
  }

  Player.prototype.metricsTable = function (metrics) {
    var wrap = el("div", "metrics-wrap");
    wrap.appendChild(metricsTable("Metrics against the references (dB)", metrics));
    return wrap;
  };

  Player.prototype.settings = function (settings) {
    var box = el("details", "settings");
    box.appendChild(el("summary", null, "Run settings"));
    var keys = Object.keys(settings || {});
    if (!keys.length) {
      box.appendChild(el("p", null, "This run recorded no settings."));
      return box;
    }
    box.appendChild(
      definitionList(
        keys.map(function (key) {
          var value = settings[key];
          return [key, typeof value === "object" && value !== null ? JSON.stringify(value) : String(value)];
        })
      )
    );
    return box;
  };

  Player.prototype.position = function () {
    return this.master ? this.master.audio.currentTime : 0;
  };

  Player.prototype.apply = function () {
    var soloed = this.rows.some(function (r) {
      return r.solo;
    });
    var mixMode = this.mixMode;
    this.rows.forEach(function (r) {
      if (!r.audio) return;
      var audible = !mixMode && (soloed ? r.solo : !r.mute);
      r.audio.muted = !audible;
      r.audio.volume = r.volume;
      r.soloButton.setAttribute("aria-pressed", String(r.solo));
      r.muteButton.setAttribute("aria-pressed", String(r.mute));
      r.state.textContent = audible ? (r.solo ? "soloed, audible" : "audible") : mixMode ? "silent (mix)" : "silent";
    });
    if (this.mixRow && this.mixRow.audio) {
      this.mixRow.audio.muted = !mixMode;
      this.mixRow.audio.volume = this.mixRow.volume;
      this.mixRow.state.textContent = mixMode ? "audible" : "silent (stems)";
    }
  };

  Player.prototype.solo = function (index) {
    if (index >= this.rows.length) return;
    this.mixMode = false;
    this.rows.forEach(function (r, i) {
      r.solo = i === index;
    });
    this.setMixMode(false);
  };

  Player.prototype.all = function () {
    this.rows.forEach(function (r) {
      r.solo = false;
      r.mute = false;
    });
    this.setMixMode(false);
  };

  Player.prototype.setMixMode = function (on) {
    this.mixMode = on;
    if (this.abButton) {
      this.abButton.setAttribute("aria-pressed", String(on));
      this.abButton.textContent = on ? "Listen to the stems" : "Listen to the original mix";
      this.abButton.setAttribute("aria-label", on ? "Listen to the stems instead of the original mix" : "Listen to the original mix instead of the stems");
    }
    this.apply();
  };

  Player.prototype.toggle = function () {
    if (this.playing) this.pause();
    else this.play();
  };

  function seeked(audio) {
    return new Promise(function (resolve) {
      if (!audio.seeking) return resolve();
      audio.addEventListener("seeked", resolve, { once: true });
    });
  }

  // Start every stem at `t` together: pause, move them all, wait until every seek is done, then play them
  // in one task. A stem moved on its own while playing would restart late by its seek time.
  Player.prototype.startAt = function (t) {
    var self = this;
    var token = ++this.token;
    this.audios.forEach(function (a) {
      a.pause();
      a.playbackRate = 1;
      a.apOffset = 0;
      if (Math.abs(a.currentTime - t) > 0.0005) a.currentTime = t;
    });
    this.show(t);
    Promise.all(this.audios.map(seeked)).then(function () {
      if (token !== self.token || !self.playing) return;
      self.audios.forEach(function (a) {
        if (!(t < a.duration)) return; // a shorter stem that has ended stays silent
        var started = a.play();
        if (started && started.catch) {
          started.catch(function (error) {
            if (error.name !== "AbortError") self.status.textContent = "Playback was refused: " + error.message;
          });
        }
      });
      self.moved = performance.now();
    });
  };

  Player.prototype.play = function () {
    var self = this;
    if (!this.master) return;
    players.forEach(function (p) {
      if (p !== self && p.playing) p.pause();
    });
    active = this;
    var t = this.position();
    if (t >= this.duration - 0.01) t = 0;
    this.playing = true;
    this.playButton.textContent = "Pause";
    this.playButton.setAttribute("aria-label", "Pause " + this.track.name);
    this.startAt(t);
    cancelAnimationFrame(this.frame);
    this.tick();
  };

  Player.prototype.pause = function () {
    this.playing = false;
    this.token++;
    this.audios.forEach(function (a) {
      a.pause();
    });
    if (this.master) {
      var t = this.master.audio.currentTime;
      this.audios.forEach(function (a) {
        if (Math.abs(a.currentTime - t) > 0.0005) a.currentTime = t;
      });
    }
    this.playButton.textContent = "Play";
    this.playButton.setAttribute("aria-label", "Play " + this.track.name);
    cancelAnimationFrame(this.frame);
    this.show();
  };

  Player.prototype.seek = function (t) {
    if (!isFinite(t)) return;
    t = Math.max(0, Math.min(t, this.duration));
    active = this;
    if (this.playing) {
      this.startAt(t);
      return;
    }
    this.audios.forEach(function (a) {
      a.currentTime = t;
    });
    this.show(t);
  };

  Player.prototype.loopRange = function () {
    var a = parseFloat(this.loopStart.value), b = parseFloat(this.loopEnd.value);
    if (!this.loopOn.checked || !isFinite(a) || !isFinite(b) || b - a < 0.05) return null;
    return [Math.max(0, a), Math.min(b, this.duration)];
  };

  Player.prototype.drawLoop = function () {
    var range = this.loopRange();
    var d = this.duration || 1;
    this.rows.concat(this.mixRow ? [this.mixRow] : []).forEach(function (r) {
      if (!r.loopBox) return;
      r.loopBox.hidden = !range;
      if (range) {
        r.loopBox.style.left = (100 * range[0]) / d + "%";
        r.loopBox.style.width = (100 * (range[1] - range[0])) / d + "%";
      }
    });
  };

  // Drift: a playing element reports its time in steps of its audio buffer, so one reading can be tens of
  // ms off. Each stem's offset from the longest one is smoothed, and a stem that is off by more than
  // DEADBAND plays a little slower or faster until it is back in line (no seek, no gap); only a stem far
  // off (a stall) restarts all stems together, at most every SETTLE_MS.
  Player.prototype.drifted = function (t) {
    var self = this;
    var far = false;
    this.audios.forEach(function (a) {
      if (a === self.master.audio || a.paused || a.seeking || !(t < a.duration)) return;
      a.apOffset = (a.apOffset || 0) * (1 - SMOOTHING) + (a.currentTime - t) * SMOOTHING;
      var offset = a.apOffset;
      if (Math.abs(offset) > FAR) far = true;
      var rate = Math.abs(offset) < DEADBAND ? 1 : 1 - Math.max(-NUDGE, Math.min(NUDGE, offset * GAIN));
      if (a.playbackRate !== rate) a.playbackRate = rate;
    });
    return far && performance.now() - this.moved > SETTLE_MS;
  };

  Player.prototype.tick = function () {
    var self = this;
    if (!this.playing) return;
    var t = this.position();
    var range = this.loopRange();
    if (range && (t >= range[1] || t < range[0] - 0.5)) {
      this.startAt(range[0]);
      t = range[0];
    } else if (this.drifted(t)) {
      this.startAt(t);
    }
    this.show(t);
    this.frame = requestAnimationFrame(function () {
      self.tick();
    });
  };

  Player.prototype.show = function (t) {
    if (t === undefined) t = this.position();
    var d = this.duration || 1;
    this.time.textContent = clock(t) + " / " + clock(this.duration);
    if (document.activeElement !== this.seekBar) this.seekBar.value = String(t);
    var left = Math.min(100, (100 * t) / d) + "%";
    this.rows.concat(this.mixRow ? [this.mixRow] : []).forEach(function (r) {
      if (r.playhead) r.playhead.style.left = left;
    });
  };

  function typing(target) {
    var tag = target && target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    return tag === "INPUT" && target.type !== "range" && target.type !== "checkbox";
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var player = active || players[0];
    if (!player) return;
    var tag = event.target && event.target.tagName;
    if (event.key === " " || event.key === "Spacebar") {
      // a focused button or checkbox answers Space itself
      if (tag === "BUTTON" || tag === "SUMMARY" || tag === "A" || (tag === "INPUT" && event.target.type === "checkbox")) return;
      event.preventDefault();
      player.toggle();
    } else if (/^[1-9]$/.test(event.key)) {
      event.preventDefault();
      player.solo(parseInt(event.key, 10) - 1);
    } else if (event.key === "0") {
      event.preventDefault();
      player.all();
    }
  });

  function showMedian(median) {
    if (!median || !Object.keys(median).length) return;
    var box = document.getElementById("median");
    box.appendChild(el("h2", null, "All tracks"));
    box.appendChild(metricsTable("Median over the tracks (dB)", median));
    box.hidden = false;
  }

  document.title = "Stem report: " + data.title;
  document.getElementById("title").textContent = "Stem report: " + data.title;
  var stemCount = data.tracks.reduce(function (n, t) {
    return n + t.stems.length;
  }, 0);
  var marked = data.tracks.filter(function (t) {
    return t.problems.length;
  }).length;
  document.getElementById("summary").textContent =
    data.tracks.length + (data.tracks.length === 1 ? " track, " : " tracks, ") + stemCount + (stemCount === 1 ? " stem" : " stems") +
    (marked ? "; " + marked + (marked === 1 ? " track has" : " tracks have") + " problems (marked below)" : "") + ".";
  document.getElementById("footer").textContent =
    "Written by audio-playground " + data.version + " on " + data.generated + " from " + data.folder + (data.embedded ? " (audio embedded)." : ".");
  showMedian(data.median);
  var main = document.getElementById("tracks");
  data.tracks.forEach(function (track, i) {
    var player = new Player(track, i);
    players.push(player);
    main.appendChild(player.section);
  });
  window.apReport = { players: players };
})();
