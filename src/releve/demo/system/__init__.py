"""The demo as a whole system on one machine: the HIS, capture, the vault and two wards'
stations, each a `releve` process on loopback, and what is done to them.

    run.py          `releve demo`: prepare the folder, start every component, stop them
    place.py        the demo's folder and settings, which every command here reads
    object_store.py `releve demo --s3`: the vault in a bucket of a Ceph radosgw it runs
    ward_staff.py   the demo's nurse and physician attached to their station's wards
    peering.py      the stations pulling each other's journals; their downtime numbers
    children.py     the components as child processes, none left behind
    health.py       `releve demo status`: one line per component
    attack.py       `releve demo attack`: the ransomware against the HIS's database
    walkthrough.py  `releve demo tour`: a guided tour of the vault
"""
