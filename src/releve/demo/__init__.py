"""The demo: a hospital, its information system, and the whole of Relève running
against them on one machine. Nothing outside this package imports it but the command
line (tests/test_architecture.py checks it).

    hospital/   the synthetic French hospital, generated as FHIR R4 (`releve demo generate`)
    his/        the FHIR R4 server standing in for its information system (`releve demo his`)
    system/     the whole system on loopback, the ransomware attack, the components'
                health and the vault's guided tour (`releve demo`, `attack`, `status`, `tour`)
"""
