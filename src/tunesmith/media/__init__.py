"""Media: files in and out. Atomic writes and output naming (files), the audio formats and the one
audio writer (audio), MIDI rendering (render), piano rolls (plots), and per kind of material how a
primer becomes tokens and tokens become a file (domains)."""
