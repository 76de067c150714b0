"""Verifiers: does the device's answer stand, or should the cloud take over? (``base`` has the interface.)"""
