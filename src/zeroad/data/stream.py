"""Reading large inputs chunk by chunk, so memory stays bounded by one chunk.

:func:`open_source` turns a file or spec into a :class:`ChunkSource`: it knows the
input's usable feature columns (numeric ones, in file order), its number of rows
when the format records it, and yields :class:`Chunk` objects holding the columns
asked for. Formats:

- Parquet (``.parquet``, ``.pq``, ``parquet:PATH``): ``ParquetFile.iter_batches``;
  a chunk is at most ``chunk_size`` rows (a row group is the unit Parquet decodes,
  so a file written as one huge row group costs that row group's memory).
- CSV (``.csv``, ``csv:PATH``): pyarrow's streaming CSV reader, in blocks sized from
  the file's line length to hold about ``chunk_size`` rows.
- ROOT (``.root``, ``root:PATH:TREE...``): :mod:`zeroad.data.root`, ``chunk_size``
  entries at a time.
- NPZ and every other spec (``adbench:NAME``, ``sklearn:...``, ...): read whole (they
  are in memory anyway) and handed out in slices.

Every chunk is checked where it is read: a missing, NaN or infinite value is refused
with its row number in the whole input and its column, a label other than 0/1 with
its row. A source is a context manager: leaving it closes its file.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zeroad.data.root import check_finite_chunk, check_label_chunk
from zeroad.errors import InputError

# Bytes of a CSV file sampled to estimate its line length.
_CSV_SAMPLE = 1 << 16
_SUFFIX_KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz",
                 ".root": "root"}
STREAMED_SUFFIXES = tuple(_SUFFIX_KINDS)


@dataclass
class Chunk:
    """Rows ``start`` to ``start + len(X) - 1`` of an input.

    Attributes
    ----------
    X : float array (n_rows, n_columns), finite, columns in the order asked for.
    y : int64 0/1 labels, or None when the input has no label column.
    start : the row number of the first row in the whole input.
    """

    X: np.ndarray
    y: np.ndarray | None
    start: int


@dataclass
class ChunkSource(ABC):
    """An input read chunk by chunk.

    Attributes
    ----------
    description : how error messages name the input.
    feature_names : the numeric columns that can be features, in file order (the
        label column excluded).
    left_out : columns that cannot be features (not numeric).
    n_rows : the number of rows, or None when only reading finds out (CSV).
    file : the file behind the input, or None (a built-in dataset).
    label : the label column, or None.
    """

    description: str
    feature_names: list[str]
    left_out: list[str] = field(default_factory=list)
    n_rows: int | None = None
    file: Path | None = None
    label: str | None = None

    @abstractmethod
    def chunks(self, columns: Sequence[str], chunk_size: int,
               dtype: type = np.float64) -> Iterator[Chunk]:
        """Yield the input's rows as chunks of the ``columns`` (names in
        :attr:`feature_names`), at most about ``chunk_size`` rows each."""

    def float32_exact(self, columns: Sequence[str]) -> bool:
        """Whether float32 chunks hold these columns' values exactly (they are stored as
        float32 or narrower), so reading them as float32 loses nothing."""
        return False

    def close(self) -> None:  # noqa: B027 - sources without an open file have nothing to do
        """Close the file the source keeps open between chunks (if any)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _check_columns(self, columns: Sequence[str]) -> None:
        missing = [c for c in columns if c not in self.feature_names]
        if missing:
            raise InputError(f"{self.description} has no numeric column {missing[:10]}")


def _check_chunk_size(chunk_size: int) -> None:
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise InputError(f"chunk_size must be a positive whole number of rows, got {chunk_size}")


def _arrow_numeric(arrow_type) -> bool:
    import pyarrow as pa

    return (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
            or pa.types.is_boolean(arrow_type))


def _arrow_chunk(batch, columns: Sequence[str], label: str | None, start: int,
                 dtype: type, where: str) -> Chunk:
    """A record batch as a checked :class:`Chunk`."""
    X = np.empty((batch.num_rows, len(columns)), dtype=dtype)
    for j, name in enumerate(columns):
        column = batch.column(name)
        _refuse_nulls(column, name, start, where)
        X[:, j] = column.to_numpy(zero_copy_only=False)
    check_finite_chunk(X, columns, start, where)
    y = None
    if label is not None:
        column = batch.column(label)
        _refuse_nulls(column, label, start, where)
        y = check_label_chunk(column.to_numpy(zero_copy_only=False), start, where)
    return Chunk(X, y, start)


def _refuse_nulls(column, name: str, start: int, where: str) -> None:
    if column.null_count:
        first = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(f"{where}: column {name!r} has {column.null_count} missing values "
                         f"(empty or NaN), first in row {start + first}; fill or drop them "
                         "first")


class ParquetSource(ChunkSource):
    """A Parquet file, read one record batch at a time."""

    def __init__(self, path: Path, label: str | None = None):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            # Pre-buffering keeps the raw bytes of every row group read so far until the
            # reader ends (measured with pyarrow 26: +120 MB per million rows of 20
            # float32 columns): memory would grow with the file instead of the chunk.
            self._file = pq.ParquetFile(path, pre_buffer=False)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{path} is not a valid Parquet file ({exc})") from exc
        schema = self._file.schema_arrow
        try:
            _check_label_column(label, schema.names, str(path))
            if label is not None and not _arrow_numeric(schema.field(label).type):
                raise InputError(f"{path}: label column {label!r} is not numeric "
                                 f"({schema.field(label).type}); labels must be 0 or 1")
        except BaseException:
            self._file.close()
            raise
        usable = [f.name for f in schema if f.name != label and _arrow_numeric(f.type)]
        left_out = [f.name for f in schema if f.name != label and f.name not in usable]
        super().__init__(str(path), usable, left_out, self._file.metadata.num_rows, path, label)

    def close(self):
        self._file.close()

    def float32_exact(self, columns):
        import pyarrow as pa

        narrow = (pa.float16(), pa.float32(), pa.int8(), pa.int16(), pa.uint8(), pa.uint16(),
                  pa.bool_())
        schema = self._file.schema_arrow
        return all(schema.field(c).type in narrow for c in columns)

    def chunks(self, columns, chunk_size, dtype=np.float64):
        self._check_columns(columns)
        _check_chunk_size(chunk_size)
        read = list(columns) + ([self.label] if self.label else [])
        start = 0
        for batch in self._file.iter_batches(batch_size=chunk_size, columns=read):
            yield _arrow_chunk(batch, columns, self.label, start, dtype, self.description)
            start += batch.num_rows


def _check_label_column(label: str | None, names: Sequence[str], where: str) -> None:
    if label is not None and label not in names:
        raise InputError(f"{where} has no label column {label!r}; columns are "
                         f"{list(names)[:20]}")


class CsvSource(ChunkSource):
    """A CSV file with a header line, read with pyarrow's streaming reader.

    Column types come from the first block (a column with any text in it there is
    not numeric); later blocks are read with every feature column as float64, so a
    column of integers that turns fractional further down is read correctly and a
    text value further down is an error that names it.
    """

    def __init__(self, path: Path, label: str | None = None):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        with open(path, "rb") as handle:
            head = handle.read(_CSV_SAMPLE)
        if b"\x00" in head or head.startswith((b"PAR1", b"PK\x03\x04", b"root")):
            raise InputError(f"{path} is not a CSV text file (it holds binary data)")
        lines = head.split(b"\n")
        complete = lines[:-1] if len(lines) > 1 else lines
        self._line_bytes = max(1.0, len(head) / max(1, len(complete)))
        self._longest = max(len(line) for line in complete) + 1
        try:
            reader = pacsv.open_csv(path, read_options=self._read_options(10_000))
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise InputError(f"{path} is not a readable CSV file ({exc})") from exc
        try:
            schema = reader.schema
            # The first block is read already (it gave the types): is there a row in it?
            empty = next((False for batch in reader if batch.num_rows), True)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise InputError(f"{path} is not a readable CSV file ({exc})") from exc
        finally:
            reader.close()
        if empty:
            raise InputError(f"{path} is empty: it has 0 rows (a header line only)")
        _check_label_column(label, schema.names, str(path))
        usable = [f.name for f in schema if f.name != label and _arrow_numeric(f.type)]
        left_out = [f.name for f in schema if f.name != label and f.name not in usable]
        super().__init__(str(path), usable, left_out, None, path, label)

    def _read_options(self, chunk_size: int):
        import pyarrow.csv as pacsv

        # A block must hold whole lines; sized to about chunk_size rows.
        block = int(max(chunk_size * self._line_bytes, 16 * self._longest, 4096))
        return pacsv.ReadOptions(block_size=min(block, 1 << 30))

    def chunks(self, columns, chunk_size, dtype=np.float64):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self._check_columns(columns)
        _check_chunk_size(chunk_size)
        read = list(columns) + ([self.label] if self.label else [])
        convert = pacsv.ConvertOptions(include_columns=read,
                                       column_types={c: pa.float64() for c in read})
        start = 0
        try:
            with pacsv.open_csv(self.file, read_options=self._read_options(chunk_size),
                                convert_options=convert) as reader:
                for batch in reader:
                    if batch.num_rows:
                        yield _arrow_chunk(batch, columns, self.label, start, dtype,
                                           self.description)
                    start += batch.num_rows
        except pa.ArrowInvalid as exc:
            raise InputError(f"{self.description}: cannot read the rows after row {start} "
                             f"as numbers ({exc})") from exc


class ArraySource(ChunkSource):
    """A dataset already in memory (NPZ files, built-in and benchmark specs)."""

    def __init__(self, dataset, file: Path | None = None):
        names = list(dataset.feature_names) or [f"x{j}" for j in range(dataset.X.shape[1])]
        super().__init__(dataset.name, names, [], dataset.X.shape[0], file,
                         None if dataset.y is None else "label")
        self._dataset = dataset

    def chunks(self, columns, chunk_size, dtype=np.float64):
        self._check_columns(columns)
        _check_chunk_size(chunk_size)
        index = [self.feature_names.index(c) for c in columns]
        X, y = self._dataset.X, self._dataset.y
        for start in range(0, X.shape[0], chunk_size):
            rows = slice(start, start + chunk_size)
            yield Chunk(np.ascontiguousarray(X[rows, index], dtype=dtype),
                        None if y is None else y[rows], start)


class RootSource(ChunkSource):
    """A tree of a ROOT file, through a ``root:`` spec (see :mod:`zeroad.data.root`)."""

    def __init__(self, spec: str, label: str | None = None):
        from zeroad.data.root import parse_root_spec, root_feature_names, root_num_entries

        self._spec = parse_root_spec(spec)
        s = self._spec
        # The weight branch is read (and checked) but never a feature, as in fit.
        names = root_feature_names(s.path, s.tree, s.branches, s.recipe, label, s.weight)
        super().__init__(spec, names, [], root_num_entries(s.path, s.tree), s.path, label)

    def chunks(self, columns, chunk_size, dtype=np.float64):
        from zeroad.data.root import iter_root_chunks

        self._check_columns(columns)
        _check_chunk_size(chunk_size)
        s = self._spec
        index = None if list(columns) == self.feature_names else \
            [self.feature_names.index(c) for c in columns]
        for chunk in iter_root_chunks(s.path, s.tree, s.branches, s.recipe, self.label,
                                      step_size=int(chunk_size), weight=s.weight):
            X = chunk.X if index is None else chunk.X[:, index]
            yield Chunk(np.ascontiguousarray(X, dtype=dtype), chunk.y, chunk.entry_start)


def source_kind(data: str | os.PathLike) -> str | None:
    """``csv``, ``parquet``, ``npz`` or ``root`` for a file or spec read in chunks, else None
    (a spec read whole by :func:`zeroad.data.datasets.load`)."""
    text = str(data)
    kind, sep, rest = text.partition(":")
    if sep and rest and kind in ("csv", "parquet", "npz", "root"):
        return kind
    return _SUFFIX_KINDS.get(Path(text).suffix.lower())


def open_source(data: str | os.PathLike, *, label_column: str | None = None,
                data_dir: str | os.PathLike | None = None) -> ChunkSource:
    """The input ``data`` names (a file or a dataset spec), ready to read in chunks.

    Parameters
    ----------
    data : a path (``.csv``, ``.parquet``, ``.pq``, ``.npz``, ``.root``) or a spec
        (``csv:PATH``, ``parquet:PATH``, ``npz:PATH``, ``root:PATH:TREE[:...]``, or any
        spec :func:`zeroad.data.datasets.load` reads).
    label_column : the 0/1 label column of a table, or the label branch of a tree.
    data_dir : where named datasets live (see :func:`zeroad.data.datasets.data_dir`).
    """
    from zeroad.data.datasets import load

    text = str(data)
    kind = source_kind(text)
    has_prefix = text.partition(":")[0] == kind
    if kind == "root":
        return RootSource(text if has_prefix else f"root:{text}", label_column)
    if kind is None or kind == "npz":
        dataset = load(text, data_dir=data_dir, label_column=label_column)
        file = Path(text.partition(":")[2] if has_prefix else text) if kind else None
        return ArraySource(dataset, file)
    path = Path(text.partition(":")[2] if has_prefix else text)
    if not path.is_file():
        raise InputError(f"data file {path} does not exist")
    if kind == "csv":
        return CsvSource(path, label_column)
    return ParquetSource(path, label_column)
