"""BSSEval v4 (museval's `bss_eval` with time-invariant filters), global SDR and SI-SDR, streamed from files.

museval computes the distortion filters once over the whole track (least squares on the references delayed
by 0..511 samples), then scores 1-second windows with them. It holds every signal's full-length spectrum
(about 8.6 GB for a 20-minute stereo 4-stem track) and costs minutes per track. Here the same quantities are
computed in two streaming passes whose memory does not depend on the track length:

1. the lagged cross-correlations that museval reads off its full-length spectra (references with references,
   references with estimates) are accumulated block by block (overlap-save; the cross-spectra of all blocks
   add up, so one inverse FFT at the end gives the whole-track correlations), with the energies the global
   SDR and SI-SDR need;
2. the filters are solved from them as museval does (`solve(G + eps I, D)`, lstsq when singular), and each
   window is projected through them in batches (FFT convolution of the window's references, cut at the
   window as museval cuts them) and scored with museval's criteria.

museval's own results are the reference: tests/core/test_eval_metrics.py checks every window against
`museval.metrics.bss_eval` to 0.01 dB. Sources whose reference or estimate is all zeros make museval refuse
the whole track; here they are left out of the joint decomposition and their metrics are None.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from audio_playground.evaluation.reader import BlockReader

FILTERS_LEN = 512
"""museval's filters_len: the distortion filters' taps."""
GLOBAL_SDR_DELTA = 1e-7
"""The MDX/SDX global SDR adds this to both energies (as the challenges' reference code does)."""
BSS_METRICS = ("sdr", "isr", "sir", "sar")
ILL_CONDITIONED = 1e-13
"""References this close to linearly dependent (pure synthetic tones, no noise floor) leave the filters to
rounding: measured 3e-20 for a synthetic two-stem mix of pure tones, 5e-8 once a -50 dB noise floor is added."""
_FFT = 1 << 15
_WINDOWS_PER_BATCH = 8


@dataclass
class SourceScores:
    """One source's scores: BSSEval v4 per window (NaN where museval gives NaN), and whole-track numbers."""

    windows: dict[str, np.ndarray] = field(default_factory=dict)
    """sdr/isr/sir/sar per window; empty when the source was left out (silent reference or estimate)."""
    global_sdr: float | None = None
    si_sdr: float | None = None
    silent_reference: bool = False
    silent_estimate: bool = False
    rcond: float | None = None
    """Reciprocal condition number of the references' Gram matrix (None: no BSSEval for this source). Below
    ILL_CONDITIONED the filters, and so SIR, ISR and SAR, are rounding noise, in museval as here."""

    @property
    def ill_conditioned(self) -> bool:
        return self.rcond is not None and self.rcond < ILL_CONDITIONED

    def median(self, metric: str) -> float | None:
        """The median over windows (NaN windows skipped, as museval's aggregation does); None if undefined."""
        import numpy as np

        values = self.windows.get(metric)
        if values is None or values.size == 0 or np.all(np.isnan(values)):
            return None
        value = float(np.nanmedian(values))
        return value if math.isfinite(value) else None


class _Lockstep:
    """References and estimates read together, block by block; a length mismatch names both files."""

    def __init__(self, refs: Sequence[BlockReader], ests: Sequence[BlockReader]) -> None:
        self.refs = list(refs)
        self.ests = list(ests)
        self.channels = refs[0].channels
        self.frames = 0

    def read(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(sources, channels, n') float64 arrays of references and estimates (n' < n only at the end)."""
        import numpy as np

        readers = self.refs + self.ests
        blocks = [r.read(n) for r in readers]
        sizes = {b.shape[1] for b in blocks}
        if len(sizes) > 1:
            short = min(range(len(blocks)), key=lambda i: blocks[i].shape[1])
            long = max(range(len(blocks)), key=lambda i: blocks[i].shape[1])
            raise _length_error(readers[short], readers[long])
        self.frames += blocks[0].shape[1]
        count = len(self.refs)
        return np.stack(blocks[:count]), np.stack(blocks[count:])


def _length_error(a: BlockReader, b: BlockReader) -> Exception:
    from audio_playground.errors import UsageError

    for reader in (a, b):
        while reader.read(1 << 16).shape[1]:
            pass
    return UsageError(
        f"{a.path} has {a.frames} frames but {b.path} has {b.frames}",
        hint="estimates and references must have the same length: pass --resample to pad or cut the estimates",
    )


def _safe_db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """museval's _safe_db, elementwise: +inf where the denominator is 0."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den == 0, np.inf, 10.0 * np.log10(num / np.where(den == 0, 1.0, den)))


def _frames(n: int, window: int, hop: int) -> list[tuple[int, int]]:
    """museval's Framing: windows [t*hop, t*hop+window) that fit; one window of everything if it is shorter."""
    if window >= n:
        return [(0, n)]
    count = (n - window + hop) // hop
    return [(t * hop, min(t * hop + window, n)) for t in range(count)]


def _correlations(stream: _Lockstep, nsrc: int, taps: int) -> dict[str, Any]:
    """Pass 1: whole-track lagged correlations (refs x refs, refs x estimates), per-source energies."""
    import numpy as np
    from scipy import fft

    chans = stream.channels
    sig = nsrc * chans
    lag = taps - 1
    size = max(_FFT, 1 << (6 * lag).bit_length())  # blocks at least twice as long as their overlap
    block = size - 2 * lag
    bins = size // 2 + 1
    sxx = np.zeros((sig, sig, bins), np.complex128)
    sxy = np.zeros((sig, sig, bins), np.complex128)
    ref_energy = np.zeros(nsrc)
    est_energy = np.zeros(nsrc)
    cross = np.zeros(nsrc)
    ref_active = np.zeros(nsrc, bool)
    est_active = np.zeros(nsrc, bool)
    nonzero = np.zeros((nsrc, chans), bool)
    same = np.ones((nsrc, chans, chans), bool)  # same[s, c, d]: channel c of reference s equals its channel d
    history = np.zeros((sig, lag))
    cur_x, cur_y = stream.read(block)
    while cur_x.shape[2]:
        nxt_x, nxt_y = stream.read(block)
        x = cur_x.reshape(sig, -1)
        y = cur_y.reshape(sig, -1)
        b = x.shape[1]
        ahead = nxt_x.reshape(sig, -1)[:, :lag]
        ext = np.concatenate([history, x, ahead], axis=1)
        spectrum = fft.rfft(ext, n=size, axis=1)
        padded = np.zeros((2 * sig, size))
        padded[:sig, lag : lag + b] = x
        padded[sig:, lag : lag + b] = y
        spectra = np.conj(fft.rfft(padded, axis=1))
        sxx += spectrum[:, None, :] * spectra[None, :sig, :]
        sxy += spectrum[:, None, :] * spectra[None, sig:, :]
        ref_energy += np.einsum("scn,scn->s", cur_x, cur_x)
        est_energy += np.einsum("scn,scn->s", cur_y, cur_y)
        cross += np.einsum("scn,scn->s", cur_x, cur_y)
        ref_active |= np.any(cur_x.sum(axis=1) != 0, axis=1)
        est_active |= np.any(cur_y.sum(axis=1) != 0, axis=1)
        nonzero |= np.any(cur_x != 0, axis=2)
        same &= np.all(cur_x[:, :, None, :] == cur_x[:, None, :, :], axis=3)
        history = np.concatenate([history, x], axis=1)[:, -lag:]
        cur_x, cur_y = nxt_x, nxt_y
    rxx = fft.irfft(sxx, n=size, axis=2)
    del sxx
    rxy = fft.irfft(sxy, n=size, axis=2)
    del sxy
    return {
        "rxx": rxx,
        "rxy": rxy,
        "ref_energy": ref_energy,
        "est_energy": est_energy,
        "cross": cross,
        "ref_active": ref_active,
        "est_active": est_active,
        "independent": _independent(nonzero, same),
    }


def _independent(nonzero: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Reference channels that add to the span of the delayed references: not all zeros, and not a copy of
    an earlier channel of the same stem (a mono stem stored as stereo). The others would make museval's G
    exactly singular (and its least-squares fallback slow) without changing any projection."""
    import numpy as np

    keep = nonzero.copy()
    for c in range(1, nonzero.shape[1]):
        keep[:, c] &= ~np.any(same[:, c, :c], axis=1)
    return keep


def _filters(corr: dict[str, Any], active: list[int], chans: int, taps: int) -> tuple[np.ndarray, np.ndarray, float]:
    """museval's projection filters from the correlations: C (estimate, source, ch, tap, ch), Cj (source, ...),
    and the reciprocal condition number of the references' Gram matrix G."""
    import numpy as np

    lags = np.arange(taps)
    toeplitz_index = lags[None, :] - lags[:, None]  # G block [a, b] = r[b - a]
    keep = corr["independent"]
    kept = [(k, s, c) for k, s in enumerate(active) for c in range(chans) if keep[s, c]]
    sig_index = np.array([s * chans + c for _, s, c in kept])
    est_index = np.array([s * chans + c for s in active for c in range(chans)])
    rxx = corr["rxx"]
    n = len(sig_index) * taps
    gram = np.empty((n, n), order="F")  # Fortran order: LAPACK factors a copy of it in place
    for a, row in enumerate(sig_index):
        for b, col in enumerate(sig_index):
            # negative lags wrap to the end of the circular correlation
            gram[a * taps : (a + 1) * taps, b * taps : (b + 1) * taps] = rxx[row, col][toeplitz_index]
    rxy = corr["rxy"][np.ix_(sig_index, est_index)]
    d = rxy[:, :, -lags].transpose(0, 2, 1).reshape(n, len(est_index))  # D[(src, ch, tap), est ch] = r[-tap]
    nact = len(active)
    eps = np.finfo(float).eps
    solved, rcond = _solve(gram, d, eps)
    solved = solved.reshape(len(kept), taps, nact, chans)
    all_filters = np.zeros((nact, chans, taps, nact, chans))
    own = np.zeros((nact, chans, taps, chans))
    for k in range(nact):
        rows = [i for i, (kk, _, _) in enumerate(kept) if kk == k]
        for i in rows:
            all_filters[k, kept[i][2]] = solved[i]
        index = np.concatenate([np.arange(i * taps, (i + 1) * taps) for i in rows])
        sub = _solve(gram[np.ix_(index, index)], d[index, k * chans : (k + 1) * chans], eps)[0]
        for r, i in enumerate(rows):
            own[k, kept[i][2]] = sub[r * taps : (r + 1) * taps]
    # (estimate, source, in ch, tap, out ch)
    return np.ascontiguousarray(all_filters.transpose(3, 0, 1, 2, 4)), own, rcond


def _solve(gram: np.ndarray, d: np.ndarray, eps: float) -> tuple[np.ndarray, float]:
    """museval's solve(G + eps I, D) (LU), lstsq when singular; and the reciprocal condition number of G."""
    import warnings

    import numpy as np
    from scipy import linalg

    loaded = np.array(gram, order="F")  # G + eps * I, as museval adds it, without an identity matrix
    loaded.flat[:: gram.shape[0] + 1] += eps
    step = 512
    norm = max(float(np.abs(loaded[:, i : i + step]).sum(axis=0).max()) for i in range(0, gram.shape[1], step))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        lu, pivots = linalg.lu_factor(loaded, overwrite_a=True, check_finite=False)
    if np.any(np.diag(lu) == 0):
        # museval's fallback, lstsq; any least-squares solution gives the same projections, and so the same
        # scores: QR with pivoting (gelsy) is the faster way to one
        return linalg.lstsq(gram, d, lapack_driver="gelsy", check_finite=False)[0], 0.0
    (gecon,) = linalg.get_lapack_funcs(("gecon",), (lu,))
    rcond = float(gecon(lu, norm, norm="1")[0])
    return linalg.lu_solve((lu, pivots), d, check_finite=False), rcond


class _Spectra:
    """The filters' spectra for one FFT size (computed once per window length)."""

    def __init__(self, filt: np.ndarray, own: np.ndarray) -> None:
        self.filt = filt
        self.own = own
        self.size = 0
        self.filt_f: Any = None
        self.own_f: Any = None

    def at(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        from scipy import fft

        if size != self.size:
            self.filt_f = fft.rfft(self.filt, n=size, axis=3)  # (estimate, source, in ch, bin, out ch)
            self.own_f = fft.rfft(self.own, n=size, axis=2)  # (source, in ch, bin, out ch)
            self.size = size
        return self.filt_f, self.own_f


def _score_windows(x: np.ndarray, y: np.ndarray, spectra: _Spectra, taps: int) -> np.ndarray:
    """sdr/isr/sir/sar (4, sources, windows) of equal-length windows x, y: (source, ch, window, frames)."""
    import numpy as np
    from scipy import fft

    w = x.shape[-1]
    out_len = w + taps - 1
    size = fft.next_fast_len(out_len, real=True)
    ref_f = fft.rfft(x, n=size, axis=-1)
    filt_f, own_f = spectra.at(size)
    p_all = fft.irfft(np.einsum("jcwf,ejcfo->eowf", ref_f, filt_f, optimize=True), n=size, axis=-1)[..., :out_len]
    p_own = fft.irfft(np.einsum("jcwf,jcfo->jowf", ref_f, own_f, optimize=True), n=size, axis=-1)[..., :out_len]
    pad = ((0, 0), (0, 0), (0, 0), (0, taps - 1))
    s_true = np.pad(x, pad)
    est = np.pad(y, pad)

    def energy(a: np.ndarray) -> np.ndarray:
        return np.einsum("scwn,scwn->sw", a, a)

    scores = np.stack(
        [
            _safe_db(energy(s_true), energy(est - s_true)),
            _safe_db(energy(s_true), energy(p_own - s_true)),
            _safe_db(energy(p_own), energy(p_all - p_own)),
            _safe_db(energy(p_all), energy(est - p_all)),
        ]
    )
    silent = np.any(np.all(x.sum(axis=1) == 0, axis=-1) | np.all(y.sum(axis=1) == 0, axis=-1), axis=0)
    scores[:, :, silent] = np.nan
    return scores


def evaluate_sources(
    open_readers: Callable[[], tuple[list[BlockReader], list[BlockReader]]],
    *,
    window: int,
    hop: int,
    taps: int = FILTERS_LEN,
) -> list[SourceScores]:
    """Score each estimate against its reference (same order): museval v4 per window, global SDR, SI-SDR.

    `open_readers()` opens the references and the estimates (called twice: one call per pass).
    """
    import numpy as np

    refs, ests = open_readers()
    try:
        stream = _Lockstep(refs, ests)
        nsrc = len(refs)
        corr = _correlations(stream, nsrc, taps)
        frames = stream.frames
    finally:
        for reader in refs + ests:
            reader.close()
    chans = stream.channels
    scores = [SourceScores() for _ in range(nsrc)]
    for j, s in enumerate(scores):
        s.silent_reference = not corr["ref_active"][j]
        s.silent_estimate = not corr["est_active"][j]
        ref_e, est_e, cross = corr["ref_energy"][j], corr["est_energy"][j], corr["cross"][j]
        if not s.silent_reference:
            residual = ref_e - 2 * cross + est_e
            s.global_sdr = 10.0 * math.log10((ref_e + GLOBAL_SDR_DELTA) / (max(residual, 0.0) + GLOBAL_SDR_DELTA))
    active = [j for j, s in enumerate(scores) if not (s.silent_reference or s.silent_estimate)]
    alpha = np.array([corr["cross"][j] / corr["ref_energy"][j] if corr["ref_active"][j] else 0.0 for j in range(nsrc)])
    ref_energy = corr["ref_energy"].copy()
    spectra = None
    rcond: float | None = None
    if active and frames:
        filt, own, rcond = _filters(corr, active, chans, taps)
        spectra = _Spectra(filt, own)
    del corr
    spans = _frames(frames, window, hop) if frames else []
    results = np.full((4, len(active), len(spans)), np.nan)
    si_noise = np.zeros(nsrc)
    refs, ests = open_readers()
    try:
        stream = _Lockstep(refs, ests)
        buffer_x = np.zeros((nsrc, chans, 0))
        buffer_y = np.zeros((nsrc, chans, 0))
        start = 0  # absolute frame of buffer[..., 0]
        for first in range(0, len(spans), _WINDOWS_PER_BATCH):
            batch = spans[first : first + _WINDOWS_PER_BATCH]
            need = batch[-1][1]
            while start + buffer_x.shape[2] < need:
                x, y = stream.read(need - start - buffer_x.shape[2])
                si_noise += np.einsum("scn->s", (y - alpha[:, None, None] * x) ** 2)
                buffer_x = np.concatenate([buffer_x, x], axis=2)
                buffer_y = np.concatenate([buffer_y, y], axis=2)
            if spectra is not None:
                xw = np.stack([buffer_x[active, :, a - start : b - start] for a, b in batch], axis=2)
                yw = np.stack([buffer_y[active, :, a - start : b - start] for a, b in batch], axis=2)
                results[:, :, first : first + len(batch)] = _score_windows(xw, yw, spectra, taps)
            nxt = spans[first + _WINDOWS_PER_BATCH][0] if first + _WINDOWS_PER_BATCH < len(spans) else need
            buffer_x = buffer_x[:, :, nxt - start :]
            buffer_y = buffer_y[:, :, nxt - start :]
            start = nxt
        while True:  # the tail after the last window counts for SI-SDR
            x, y = stream.read(1 << 16)
            if not x.shape[2]:
                break
            si_noise += np.einsum("scn->s", (y - alpha[:, None, None] * x) ** 2)
    finally:
        for reader in refs + ests:
            reader.close()
    for k, j in enumerate(active):
        scores[j].windows = {m: results[i, k].copy() for i, m in enumerate(BSS_METRICS)}
        scores[j].rcond = rcond
    for j, s in enumerate(scores):
        if s.silent_reference:
            continue
        target = alpha[j] ** 2 * ref_energy[j]
        noise = float(si_noise[j])
        value = (math.inf if noise == 0 else 10.0 * math.log10(target / noise)) if target > 0 else -math.inf
        s.si_sdr = value if math.isfinite(value) else None
    return scores
