"""The Parley client engine: connection, reconnect, commands and client-side state.

One engine serves every frontend; nothing here imports tkinter or textual.
"""
