"""The worker side: consumer guard, outbox, expiry rules, reaper."""
