"""The real-server test rig: a private Dovecot, "another device", a message corpus, a fault proxy.

Fixtures (``tests/conftest.py``): ``dovecot`` / ``dovecot_reduced`` (session servers, started
lazily), ``dovecot_rev1`` (advertises IMAP4rev1 alone), ``mail_user`` / ``reduced_user`` /
``rev1_user`` (a fresh user per test), ``device`` (a second client logged in as ``mail_user``),
``proxy`` (a ``FaultProxy`` in front of ``dovecot``'s plain port). ``StrictProxy``
(``tests/rig/strict.py``) refuses what the server did not advertise, as a real server would.

Facts worth knowing when writing tests against it (Dovecot 2.3.19):

- IDLE reports a change about 0.5 s after it happens (Dovecot batches notifications), and
  sends ``* OK Still here`` every second (``imap_idle_notify_interval = 1 secs``).
- The reduced server only *advertises* less: it still accepts MOVE, UID EXPUNGE, ENABLE
  CONDSTORE/QRESYNC, ESEARCH and friends, and still sends APPENDUID/COPYUID. A client must go
  by CAPABILITY; tests check what it sends, not what Dovecot would refuse.
- A failed login answers after about 0.5 s (Dovecot's failure-delay timer).
- ``Device`` re-selects the folder on every call, so it always reads the server's current state.
- ``seed_maildir`` writes files behind Dovecot's back; Dovecot picks them up on the next
  SELECT or STATUS. New folders are created through ``doveadm`` so Dovecot's folder list knows
  them. A session that has the folder selected sees the new mail at its next sync point (NOOP).
"""
