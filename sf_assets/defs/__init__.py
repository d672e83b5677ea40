"""Dagster definitions: source tables, Salesforce assets, checks, jobs and schedules."""
