"""Training mode: exercises with a hidden cause, a ticket, hints, an answer, an
automatic check, a score, and the trainer's reference solutions.

- exercises: config/exercises.yml, read and checked (typed records);
- workspace: the trainee's fix file (training/workspace/fix.yml), read, checked, written;
- session: the running exercise's state in .lab/training/, hints, answers, checks, the score;
- labport: the real lab behind a session (the hidden selection, lab.up, the fixed load);
- commands: the `churnlab exercise ...` commands the make targets call.
"""
