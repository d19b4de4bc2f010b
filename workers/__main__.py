"""`python -m modelscreen` is the `modelscreen` command."""
from modelscreen.cli import main

if __name__ == "__main__":
    main()
