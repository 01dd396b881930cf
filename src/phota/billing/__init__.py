"""Billing: the dated price table (``prices``), the prepaid-credit ledger (``ledger``, ``models``)
and the JSON view of an account's usage (``usage_view``).

All money is integer micro-dollars (1 USD = 1,000,000 micros) so sums never drift. A request
reserves its worst-case cost before any work starts, settles at the actual cost when it ends,
and releases (failure) or refunds (synchronous timeout) the hold otherwise. Test keys never
reach this package: the caller skips billing for them.
"""
