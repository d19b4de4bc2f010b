"""Deployment assets shipped as package data: Elasticsearch templates, Kibana assets, the policy example."""
