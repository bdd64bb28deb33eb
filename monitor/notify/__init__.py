"""Where reports go. Each channel is a module that knows its service and nothing about providers."""
