"""Access: badges and other tokens, access rules, the authorization decision, stations' local lists."""
