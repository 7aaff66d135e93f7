"""Page generation for mkdocs sites: directives that turn a spec catalogue into Markdown.

The mkdocs plugin `spec_docs.plugin` (``plugins: - orchestration-spec: {spec: MODULE:ATTR}``)
expands the ``{{ directive(...) }}`` calls of every page; `spec_docs.expand` does it without
MkDocs. This package imports nothing heavy itself: the plugin imports the directives only once
it has put the site's own directory on ``sys.path``, so a catalogue next to ``mkdocs.yml`` (and
this checkout's `spec`, for the project's own site) is the one drawn.
"""
