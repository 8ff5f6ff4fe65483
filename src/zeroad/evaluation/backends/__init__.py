"""How to run benchmark tasks. Every backend takes a task list and yields one row per task."""
