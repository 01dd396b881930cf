"""Studio: edit / generate / enhance / remix orchestration and the local enhance engines."""
