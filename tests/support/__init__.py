"""What the tests share: databases and servers to test against, the `pdfprompt` processes,
the render engines, hostile inputs, waiting on jobs and on any condition, leases
ended at once, and clocks moved by hand. Fixtures stay in conftest modules;
everything a test imports comes from here."""
