"""A hybrid session of two, in 20 lines: add, a message, a FULL and a
PARTIAL commit, and the bytes each costs."""

import mlsx

alice, bob = mlsx.Client("alice"), mlsx.Client("bob")
group = alice.create_group(b"team", "hybrid")
add = group.add(bob.key_packages("hybrid"))  # a FULL commit and a Welcome pair
group.accepted()  # the delivery service took it
assert add.welcome is not None
at_bob = bob.join(add.welcome)

hello = group.send(b"hello, post-quantum world")
print([e.data for e in at_bob.process(hello.message)])

for full in (True, False):
    out = group.update(full)
    group.accepted()
    at_bob.process(out.message)
    print(f"{out.commit_kind:8} commit: {len(out.message):6} bytes, epoch {group.epoch}")
assert group.epoch_authenticator == at_bob.epoch_authenticator
