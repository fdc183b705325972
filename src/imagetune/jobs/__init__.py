"""Jobs: their records (store), the queue workers take them from, and the workers."""
