"""gis: geospatial layers in, validated tables out.

Modules: ``errors`` (the error hierarchy), ``io`` (read any vector format, atomic
writes), ``crs`` (GCJ-02 <-> WGS-84, metric CRS), ``validate`` (collect every
problem, raise once), ``grid`` (adaptive H3 hexes), ``demand`` (modelled /
raster / table), ``candidates`` (5G sites, central offices), ``pairs`` (sparse
demand x candidate within radius), ``layers`` (the ``Layers`` bundle), ``build``
(the whole pipeline from plain build settings to ``Layers``). gis imports
neither ``rollout`` nor ``maps``.
"""
