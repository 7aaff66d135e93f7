"""Example code for the test kit (issue 17): the "Specify your own workflow" tutorial's task handlers and their test.

`runtime.examples.payment_handlers` runs the payment flow of `spec.examples.payments` as a task
type of a real worker; `runtime.examples.test_payment_service` checks it on a real platform with
the ``spec_platform`` fixture. The test suite copies both into a project outside this tree.
"""
