"""What the pages and printouts show, as plain data built from the index.

    summary/   the patient summary, one module per section, walked in the order of its
               registry (summary/__init__.py)
"""
