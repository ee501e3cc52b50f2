"""Reports made from the QI dashboards: the monthly report (content, text, HTML and PDF)."""
