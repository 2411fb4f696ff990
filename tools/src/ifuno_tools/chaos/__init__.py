"""`make chaos`: the demo's season under a scripted adversary, then proof nothing was lost."""
