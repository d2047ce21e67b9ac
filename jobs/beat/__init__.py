"""Pure scheduling maths for the beat: triggers, catch-up of missed fires and start jitter."""
