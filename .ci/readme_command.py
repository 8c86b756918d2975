"""Print one of the README's quick-start commands: `main` (install + tag the examples) or `test`.

Each sits in a ```sh block right after a marker line `<!-- quickstart:NAME -->`.
"""

import sys
from pathlib import Path

name = sys.argv[1]
lines = (Path(__file__).resolve().parent.parent / "README.md").read_text().splitlines()
start = lines.index(f"<!-- quickstart:{name} -->")
block = lines[start + 1:]
assert block[0].startswith("```"), f"no code block after the quickstart:{name} marker"
end = block.index("```", 1)
command = [line for line in block[1:end] if line.strip() and not line.lstrip().startswith("#")]
assert len(command) == 1, f"quickstart:{name} must be exactly one command"
print(command[0])
