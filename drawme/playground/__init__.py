"""The local playground: a Bot API emulator and a chat page, for trying drawme without Telegram."""
