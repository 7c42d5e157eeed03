"""What the tests share: databases and servers to test against, the `pdfprompt` processes,
the render engines, hostile inputs, and waiting on jobs. Fixtures stay in conftest modules;
everything a test imports comes from here."""
