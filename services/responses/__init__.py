"""The responses service: the page behind the emailed link, where a contact answers Yes or No."""
