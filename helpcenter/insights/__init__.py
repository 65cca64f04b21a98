"""What people search, what they click and where search fails: the search log
(:mod:`.searchlog`) and the writers' report (:mod:`.report`). Reads support's
storage; nothing below it imports this wing.
"""
