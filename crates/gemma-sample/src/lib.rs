//! Seeded token sampling: greedy, temperature, top-k, top-p and min-p.
