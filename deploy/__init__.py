"""Deployment artefacts: the CloudFormation merge template and `make package`.

Not part of the Lambda package (Chalice packages only app.py, chalicelib/ and vendor/).
"""
