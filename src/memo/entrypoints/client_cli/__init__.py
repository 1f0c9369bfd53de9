"""The command line as a client of a running Memo: every command signs its requests with the key of a profile
(`memo login`) or of MEMO_URL, MEMO_KEY_ID and MEMO_KEY_SECRET, and speaks memo.client.

Exit codes tell the error families apart (messages.py): 3 auth, 4 validation, 5 not found, 6 conflict, 7 rate
limited, 8 server or transport.
"""

from memo.entrypoints.client_cli.login import login
from memo.entrypoints.client_cli.memories import add, edit, get, list_memories, rm
from memo.entrypoints.client_cli.questions import ask, search, send, status
from memo.entrypoints.client_cli.transfer import export, import_memories

client_commands = [login, add, list_memories, get, edit, rm, search, ask, send, export, import_memories, status]

__all__ = ["client_commands"]
