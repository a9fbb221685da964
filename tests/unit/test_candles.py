"""Candle files (line-precise errors), closed-candle selection (T2) and gap detection (T5)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from bitsniper.candles import Candles, closed_only, gap_indices, iso_to_ms, read_candles_csv
from bitsniper.errors import CandleFileError, DataQualityError

HEADER = "timestamp,open,high,low,close,volume"
MIN15 = 15 * 60_000
T0 = iso_to_ms("2025-07-07T18:00:00Z")


def rows(n: int, start: int = T0, iso: bool = True) -> list[str]:
    """n sound consecutive 15-minute candle lines."""
    out = []
    for k in range(n):
        t = start + k * MIN15
        stamp = f"{np.datetime64(t, 'ms').astype('datetime64[s]')}Z" if iso else str(t)
        price = 108000.0 + k
        out.append(f"{stamp},{price},{price + 50},{price - 50},{price + 10},{1.5 + k}")
    return out


def write(tmp_path: Path, lines: list[str], name: str = "candles.csv", gz: bool = False) -> Path:
    text = "\n".join(lines) + "\n"
    path = tmp_path / name
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def read_error(path: Path) -> CandleFileError:
    with pytest.raises(CandleFileError) as caught:
        read_candles_csv(path)
    return caught.value


# ---------------------------------------------------------------- reading


def test_iso_timestamps_are_read_as_utc_open_times_in_ms(tmp_path: Path) -> None:
    candles = read_candles_csv(write(tmp_path, [HEADER, *rows(3)]))
    assert candles.time.tolist() == [T0, T0 + MIN15, T0 + 2 * MIN15]
    assert candles.open.tolist() == [108000.0, 108001.0, 108002.0]
    assert candles.high.tolist() == [108050.0, 108051.0, 108052.0]
    assert candles.low.tolist() == [107950.0, 107951.0, 107952.0]
    assert candles.close.tolist() == [108010.0, 108011.0, 108012.0]
    assert candles.volume.tolist() == [1.5, 2.5, 3.5]


def test_epoch_ms_timestamps_equal_the_iso_ones(tmp_path: Path) -> None:
    iso = read_candles_csv(write(tmp_path, [HEADER, *rows(4)], "iso.csv"))
    epoch = read_candles_csv(write(tmp_path, [HEADER, *rows(4, iso=False)], "ms.csv"))
    np.testing.assert_array_equal(iso.time, epoch.time)
    np.testing.assert_array_equal(iso.close, epoch.close)


def test_iso_offsets_and_naive_times_are_converted_to_utc(tmp_path: Path) -> None:
    lines = [HEADER, "2025-07-07T20:00:00+02:00,1,2,0.5,1.5,3", "2025-07-07 18:15:00,1,2,0.5,1.5,3"]
    assert read_candles_csv(write(tmp_path, lines)).time.tolist() == [T0, T0 + MIN15]


def test_gzip_file_reads_like_the_plain_one(tmp_path: Path) -> None:
    plain = read_candles_csv(write(tmp_path, [HEADER, *rows(5)], "c.csv"))
    zipped = read_candles_csv(write(tmp_path, [HEADER, *rows(5)], "c.csv.gz", gz=True))
    for column in ("time", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(plain, column), getattr(zipped, column))


def test_header_case_spaces_and_blank_lines_are_tolerated(tmp_path: Path) -> None:
    lines = [" Timestamp , OPEN,high,low,close,volume", *rows(2), "", *rows(1, start=T0 + 2 * MIN15), ""]
    assert len(read_candles_csv(write(tmp_path, lines))) == 3


def test_real_slice_reads_whole_and_consecutive() -> None:
    from tests.conftest import TEST_DATA

    candles = read_candles_csv(TEST_DATA / "coinbase_btcusd_15m_2025-06-01_2025-08-05.csv.gz")
    assert len(candles) == 6336
    assert candles.time[0] == iso_to_ms("2025-06-01T00:00:00Z")
    assert len(gap_indices(candles.time, MIN15)) == 0


# ---------------------------------------------------------------- bad input: file, line, problem


def bad_file(tmp_path: Path, line: int, replacement: str, n: int = 5) -> Path:
    """A sound file whose line ``line`` (1 = header) is replaced."""
    lines = [HEADER, *rows(n)]
    lines[line - 1] = replacement
    return write(tmp_path, lines)


@pytest.mark.parametrize(
    ("line", "replacement", "problem"),
    [
        (3, "2025-07-07T18:15:00Z,108001,108051,107951,abc,2.5", "unparsable close 'abc'"),
        (4, "2025-07-07T18:30:00Z,108002,,107952,108012,3.5", "unparsable high ''"),
        (2, "2025-07-07T18:00:00Z,108000,108050,107950,108010,nan", "unparsable volume 'nan'"),
        (5, "2025-07-07T18:45:00Z,108003,108053,107953,108013,inf", "unparsable volume 'inf'"),
        (4, "yesterday,108002,108052,107952,108012,3.5", "unparsable timestamp 'yesterday'"),
        (3, "2025-07-07T18:00:00Z,108001,108051,107951,108011,2.5", "duplicate timestamp 2025-07-07T18:00:00Z"),
        (4, "2025-07-07T17:00:00Z,108002,108052,107952,108012,3.5", "not after the previous one (unsorted)"),
        (5, "2025-07-07T18:45:00Z,108003,107900,107953,108013,4.5", "high 107900.0 is below low 107953.0"),
        (3, "2025-07-07T18:15:00Z,0,108051,107951,108011,2.5", "non-positive open price 0.0"),
        (6, "2025-07-07T19:00:00Z,108004,108054,107954,-1,5.5", "non-positive close price -1.0"),
        (2, "2025-07-07T18:00:00Z,108000,108050,107950,108010,-0.1", "negative volume -0.1"),
        (4, "2025-07-07T18:30:00Z,108002,108052,107952,108012,3.5,9", "7 fields where the header has 6"),
        (2, "2025-07-07T18:00:00Z,108000,108050,107950,108010,1,7", "7 fields where the header has 6"),
    ],
)
def test_bad_line_raises_candle_file_error_naming_file_line_and_problem(
    tmp_path: Path, line: int, replacement: str, problem: str
) -> None:
    path = bad_file(tmp_path, line, replacement)
    error = read_error(path)
    assert (error.path, error.line) == (str(path), line)
    assert problem in error.problem
    assert str(error).startswith(f"{path}:{line}: ")


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    lines = [HEADER, *rows(2), "", "", rows(3)[1]]  # line 6 repeats line 3's timestamp
    error = read_error(write(tmp_path, lines))
    assert error.line == 6
    assert "duplicate timestamp" in error.problem


def test_missing_column_is_reported_on_the_header_line(tmp_path: Path) -> None:
    lines = ["timestamp,open,high,low,close", *[r.rsplit(",", 1)[0] for r in rows(3)]]
    error = read_error(write(tmp_path, lines))
    assert error.line == 1
    assert "missing column(s) volume" in error.problem


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "not a CSV file"), (f"{HEADER}\n".encode(), "no candles"), (f"{HEADER}\n\n\n".encode(), "no candles")],
)
def test_empty_file_names_the_file(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    error = read_error(path)
    assert error.path == str(path) and str(error).startswith(str(path))
    assert problem in error.problem


def test_missing_file_and_corrupt_gzip_name_the_file(tmp_path: Path) -> None:
    assert "cannot read the file" in read_error(tmp_path / "absent.csv").problem
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(b"timestamp,open\n")[:12])
    assert "corrupt gzip" in read_error(broken).problem


def test_candle_file_error_is_a_data_quality_error(tmp_path: Path) -> None:
    assert isinstance(read_error(tmp_path / "absent.csv"), DataQualityError)


def test_fractional_epoch_ms_is_refused_with_its_line(tmp_path: Path) -> None:
    lines = [HEADER, *rows(3, iso=False)]
    lines[2] = lines[2].replace(str(T0 + MIN15), f"{T0 + MIN15}.5")
    error = read_error(write(tmp_path, lines))
    assert error.line == 3 and "not whole milliseconds" in error.problem


# ---------------------------------------------------------------- T2 closed candles


def make(times: list[int], volumes: list[float] | None = None) -> Candles:
    n = len(times)
    price = np.full(n, 100.0)
    return Candles(np.array(times, dtype=np.int64), price, price + 1, price - 1, price,
                   np.array(volumes if volumes is not None else [1.0] * n))


def test_closed_only_keeps_candle_whose_close_time_equals_now() -> None:
    candles = make([T0, T0 + MIN15, T0 + 2 * MIN15])
    now = T0 + 3 * MIN15  # the last candle closes exactly now
    assert closed_only(candles, now, MIN15).time.tolist() == [T0, T0 + MIN15, T0 + 2 * MIN15]


def test_closed_only_drops_candle_one_ms_before_its_close() -> None:
    candles = make([T0, T0 + MIN15, T0 + 2 * MIN15])
    kept = closed_only(candles, T0 + 3 * MIN15 - 1, MIN15)
    assert kept.time.tolist() == [T0, T0 + MIN15]


def test_closed_only_selects_by_timestamp_not_position_or_volume() -> None:
    """A forming candle with the biggest volume and a second forming one (server ahead) both go."""
    times = [T0, T0 + MIN15, T0 + 2 * MIN15, T0 + 3 * MIN15]
    candles = make(times, volumes=[5.0, 6.0, 900.0, 0.0])
    now = T0 + 2 * MIN15 + 60_000  # one minute into the third candle
    kept = closed_only(candles, now, MIN15)
    assert kept.time.tolist() == [T0, T0 + MIN15]
    assert kept.volume.tolist() == [5.0, 6.0]
    assert all(t + MIN15 <= now for t in kept.time)


def test_closed_only_with_nothing_closed_is_empty() -> None:
    assert len(closed_only(make([T0]), T0 + MIN15 - 1, MIN15)) == 0


# ---------------------------------------------------------------- T5 gaps


def test_gap_indices_names_the_candle_after_each_hole() -> None:
    times = np.array([T0, T0 + MIN15, T0 + 4 * MIN15, T0 + 5 * MIN15, T0 + 7 * MIN15], dtype=np.int64)
    assert gap_indices(times, MIN15).tolist() == [2, 4]


def test_gap_indices_of_consecutive_candles_is_empty() -> None:
    times = T0 + MIN15 * np.arange(100, dtype=np.int64)
    assert gap_indices(times, MIN15).tolist() == []
    assert gap_indices(times[:1], MIN15).tolist() == []


def test_gap_indices_finds_the_holes_of_the_shared_coinbase_history() -> None:
    from tests.conftest import shared_file

    candles = read_candles_csv(shared_file("data/coinbase_btcusd_15m_2024-04_2026-05.csv.gz"))
    gaps = gap_indices(candles.time, MIN15)
    missing = int(((candles.time[gaps] - candles.time[gaps - 1]) // MIN15 - 1).sum())
    assert (len(gaps), missing) == (4, 56)  # data/README.md: 56 missing candles in 4 holes
