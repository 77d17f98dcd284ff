"""The station's printouts: what nurses print by hand when the HIS is down, as A4 PDF made
on the station with no network.

    documents.py  each printout (MAR, census, OR, directory, labels, wristband, forms)
    card.py       the identity the labels, wristband and forms print
    ins.py        the INS DataMatrix content
    codes.py      DataMatrix and Code 128, one pixel per module
    pdf.py        templates to PDF (WeasyPrint)

documents.py's functions list the printouts, ins.py the DataMatrix content, the web
URLs are in web/printouts.py and the commands in releve/cli/station_print.py.
"""
