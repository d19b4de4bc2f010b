"""Stage logic shared by the Faust agents and the embedded runner: no Kafka client in here."""
