"""The annotators' web app: static files (built from labelproof/app/src by esbuild) and the
small server that hands them out with the deployment, chain reads, and the oracle and relayer
behind one origin (``labelproof app serve``)."""
