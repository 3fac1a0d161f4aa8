"""Evidence gathered while load runs.

`sockets.py` is standalone (Python 3 standard library only, reads /proc): it runs
inside the app container's network namespace in the lab, and on a real app
host over SSH. The other modules are the lab's way of running it and of
sampling Postgres and PgBouncer.
"""
