"""Sending mail: the emails themselves (`emails`), the SMTP connections (`smtp`), and the workers that send
what the mail tables hold, outside any transaction (`workers`)."""
