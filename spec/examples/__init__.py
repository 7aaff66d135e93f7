"""Example catalogues: small systems specified with `spec`'s public API alone (issue 17).

`spec.examples.payments` is the code of the "Specify your own workflow" tutorial
(docs/own-workflow.md); the test suite copies it into a package outside this tree and runs it.
"""
