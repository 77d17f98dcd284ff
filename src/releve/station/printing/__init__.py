"""The station's printouts: what nurses print by hand when the HIS is down, as A4 PDF made
on the station with no network.

    documents.py  each printout (MAR, census, OR, directory, labels, wristband, forms)
    card.py       the identity the labels, wristband and forms print
    ins.py        the INS DataMatrix content
    codes.py      DataMatrix and Code 128 as vector SVG
    pdf.py        templates to PDF (WeasyPrint)
    wards.py      which ward `--ward` names

docs/printing.md describes each document, the codes' contents, the URLs and commands.
"""
