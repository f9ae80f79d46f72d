"""`python -m audio_playground` runs the `ap` CLI."""

from audio_playground.cli import main

if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess test
    main()
