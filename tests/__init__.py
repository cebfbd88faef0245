from pathlib import Path

REPO = Path(__file__).resolve().parent.parent  # the repository: the tests' folders mirror its own
