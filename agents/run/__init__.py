"""The run folder and its files: the layout (`agents.run.folder`) and the checkpoint format
(`agents.run.checkpoint`). Everything a later command needs is read from here."""
