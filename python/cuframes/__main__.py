"""`python -m cuframes demo` runs the same CLI as the `cuframes` command."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="cuframes")
