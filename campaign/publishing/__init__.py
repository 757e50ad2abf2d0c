"""Publishing: the runner that sends each approved post once, the lookups that settle posts whose fate is
unknown, the events that tell people what happened, and rehearsals that play a plan against the sandbox.

The store's side of publishing (claims, leases, recorded outcomes) is :mod:`campaign.store.publishing`.
"""
