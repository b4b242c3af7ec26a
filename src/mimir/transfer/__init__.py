"""Bringing data into Mímir and taking it out, all in one place.

Sources, one module each (each reads its input and writes through the domain's SQL):
  chatgpt.py       a ChatGPT data export (zip or conversations.json), streamed
  files.py         a folder of Markdown and text files
  export.py        Mímir's own `mimir-export` JSON Lines format, written ...
  restore.py       ... and read back into an empty database (format: mimir_format.py,
                   docs/export-format.md)
Shared by the sources:
  guard.py         limits on untrusted JSON (depth, value length, decompressed size)
Entry points, beside the sources:
  cli.py           `mimir export` and the `mimir import chatgpt|mimir|files` commands
  rest.py          `POST/GET /api/v1/imports` (an upload becomes the job `imports.run`)
  uploads.py       the import rows and saved uploads behind rest.py (sql/imports.sql)
  tasks.py         the job `imports.run`, which runs one upload in a child process
  sandbox.py       starts that process (`python -m mimir.transfer.child`) with its limits
  child.py         the process itself; runner.py dispatches its upload to a source

A new source goes in its own module here (say `notion.py`), with an `import_<source>`
coroutine like `import_chatgpt`; add its command to cli.py and, to take it over HTTP, its
kind to `ImportKind` in uploads.py and its branch in runner.py.
"""
