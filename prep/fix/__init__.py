"""``seedance-prep fix``: conform a request and its media into a new folder, never touching the originals.

The planner (:mod:`.plan`, :mod:`.request`) is pure and takes every target number from the rule set; the
executors (:mod:`.images`, :mod:`.video`, :mod:`.audio`) write one output each, atomically; :mod:`.run`
ties them together and checks the result again. The records they share are in :mod:`.model`.
"""
